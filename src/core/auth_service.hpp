// Accounts and sessions: guest (device) and email+password login, signed session tokens with
// refresh and revocation, nicknames. Thread-safe. Every operation that touches storage is
// asynchronous: it runs on the storage worker (and password hashing on the `offload` executor),
// and its callback runs on one of those threads.
//
// Abuse limits (all answer errc::rate_limited with retry_after_s, before any hash is computed):
// failed email logins per account and per client address back off exponentially (a successful
// login clears the account's count; until a block has passed even the right password is
// refused); new accounts (device or email) and registration attempts are a token bucket per
// client address; and at most `hash_queue_max` password hashes wait or run at once.
#pragma once

#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/account_store.hpp"
#include "core/backoff_limiter.hpp"
#include "core/crypto.hpp"
#include "core/nickname.hpp"
#include "core/password_policy.hpp"
#include "store/records.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/rate_limiter.hpp"

namespace maratang::core {

struct auth_limits {
  backoff_options account{};                         // failed logins per email
  backoff_options address{20, {}, {}, {}, 100'000};  // failed logins per client address
  double signups_per_hour = 60;  // new accounts and registration attempts per address; 0: off
  double signup_burst = 10;
  int hash_queue_max = 8;  // password hashes waiting or running at once; 0: unbounded
};

struct auth_options {
  int token_ttl_s = 3600;
  int refresh_ttl_s = 30 * 24 * 3600;
  pwhash_params pwhash = pwhash_params::interactive();
  nickname_rules nicknames;
  auth_limits limits;
  // New passwords are checked against it; null: the length rules only.
  std::shared_ptr<const password_policy> passwords;
};

struct session_tokens {
  std::int64_t account_id = 0;
  std::string token;
  std::string refresh_token;
  epoch_ms expires_at = 0;  // of `token`
  bool created = false;     // a new account was made
};

class auth_service {
 public:
  template <class T>
  using callback = std::function<void(result<T>)>;
  // Runs CPU-heavy work (password hashing) off the network threads.
  using offload_fn = std::function<void(std::function<void()>)>;

  auth_service(account_store& store, const clock& clk, const signing_key& key, auth_options opts,
               offload_fn offload);

  // Reads the revocation list and the bans from storage. Call once at start-up, before serving.
  void load_revocations();

  // `client` is the caller's address (net::http_request::remote): the key of the per-address
  // limits.
  void login_device(std::string device_id, std::string client, callback<session_tokens> cb);
  void register_email(std::string email, std::string password, std::string client,
                      callback<session_tokens> cb);
  void login_email(std::string email, std::string password, std::string client,
                   callback<session_tokens> cb);
  void refresh(std::string refresh_token, callback<session_tokens> cb);
  void logout(std::string session_id, callback<bool> cb);
  // A session revoked elsewhere (another node's logout, told over Redis): its tokens stop
  // working here at once. Thread-safe.
  void note_revoked(const std::string& session_id);

  // Verifies a session token: signature, expiry, revocation, and that its account is not banned.
  // Quick; no I/O.
  result<token_claims> authenticate(std::string_view token) const;

  // Bans. ban: the account is banned until `until_ms` (kBanForever: until unbanned) for `reason`
  // (recorded with the admin's id in the audit log, in the same transaction); until_ms 0 lifts
  // the ban. From the commit on, its tokens, logins and refreshes are refused with
  // account_banned and the reason; the caller closes its connections. cb: ok or not_found.
  // note_ban: a ban made elsewhere (another node, told over Redis). Thread-safe.
  static constexpr std::int64_t kBanForever = std::numeric_limits<std::int64_t>::max();
  void ban(std::int64_t admin, std::int64_t account_id, epoch_ms until_ms, std::string reason,
           callback<store::status> cb);
  void note_ban(std::int64_t account_id, epoch_ms until_ms, std::string reason);
  // account_banned (with the reason and the end) while `account_id` is banned.
  result<> check_banned(std::int64_t account_id) const;

  // Several nodes: `fn` takes a token from a bucket shared by every node (redis::take_token:
  // key, rate per second, burst), answering nullopt when it cannot tell; then the node's own
  // bucket decides. The sign-up budget per address is then one across the nodes. Set once,
  // before serving.
  using shared_bucket_fn = std::function<void(std::string key, double rate, double burst,
                                              std::function<void(std::optional<bool>)> done)>;
  void set_shared_buckets(shared_bucket_fn fn) { shared_ = std::move(fn); }
  // Several nodes: the failed-login back-off kept in Redis (redis::backoff_*), so that one email
  // and one address have one count across the nodes. `acquire` answers the wait (0: go ahead),
  // or nullopt when Redis cannot tell (then this node's own back-off decides); `forgive` and
  // `reset` are best effort. Set once, before serving.
  struct shared_backoff {
    std::function<void(std::string key, const backoff_options& rules,
                       std::function<void(std::optional<std::chrono::milliseconds>)> done)>
        acquire;
    std::function<void(std::string key)> forgive;
    std::function<void(std::string key)> reset;
  };
  void set_shared_backoff(shared_backoff b) { shared_backoff_ = std::move(b); }

  void get_account(std::int64_t id, callback<store::account> cb);
  // Validates, then stores; nickname_taken when another account holds the same key.
  void set_nickname(std::int64_t id, std::string requested, callback<nickname> cb);
  // Whether a nickname is valid and free.
  void check_nickname(std::string requested, callback<std::pair<nickname, bool>> cb);
  // The account whose nickname is the same name as `name` (the same key: Unicode rules), or
  // nullopt when none is (an invalid name included).
  void find_by_nickname(std::string name, callback<std::optional<std::int64_t>> cb);

 private:
  void issue(std::int64_t account_id, bool created, callback<session_tokens> cb);
  // register_email once its sign-up token and hashing place are taken.
  void hash_and_register(std::string norm, std::string addr, std::string password,
                         callback<session_tokens> cb);
  bool is_revoked(const std::string& session_id) const;
  // Reserves a place in the hashing queue: false when it is full.
  // A place in the hashing queue: false when it is full, or when the address already holds its
  // share (a quarter of it, at least 1), so that one address cannot fill it for everyone.
  bool reserve_hash(const std::string& addr);
  bool hash_queue_full(const std::string& addr) const;
  void release_hash(const std::string& addr);
  int hash_per_address_max() const;
  // A token of the address's sign-up budget: done(true) when there was one (on this thread, or
  // with shared buckets on another).
  void allow_signup(const std::string& address_key, std::function<void(bool)> done);
  // One failed-login count of `limiter` (account_failures_ or address_failures_) for `key`:
  // with shared_backoff_, Redis's under `shared_key`; without, or when Redis does not answer,
  // this node's. done(wait, shared): `shared` says which counted it, for failure_forgiven.
  void acquire_failure(backoff_limiter& limiter, const backoff_options& rules,
                       std::string shared_key, std::string key,
                       std::function<void(std::chrono::milliseconds, bool)> done);
  void failure_forgiven(backoff_limiter& limiter, bool shared, const std::string& shared_key,
                        const std::string& key);
  // The rest of login_email, once both counts let the attempt go ahead.
  void check_password(std::string norm, std::string addr, std::string password,
                      std::function<void()> give_back, callback<session_tokens> cb);
  error signup_refused() const;

  account_store& store_;
  const clock& clock_;
  token_signer signer_;
  auth_options opts_;
  offload_fn offload_;
  backoff_limiter account_failures_;
  backoff_limiter address_failures_;
  util::rate_limiter signups_;     // a token bucket per client address
  shared_bucket_fn shared_;        // with several nodes: the buckets in Redis
  shared_backoff shared_backoff_;  // with several nodes: the failed-login counts in Redis
  mutable std::mutex hashing_mu_;
  int hashing_ = 0;                                          // GUARDED_BY(hashing_mu_)
  std::unordered_map<std::string, int> hashing_by_address_;  // GUARDED_BY(hashing_mu_)
  mutable std::shared_mutex revoked_mu_;
  std::unordered_set<std::string> revoked_;  // GUARDED_BY(revoked_mu_)
  struct ban_entry {
    epoch_ms until = 0;
    std::string reason;
  };
  std::unordered_map<std::int64_t, ban_entry> bans_;  // GUARDED_BY(revoked_mu_)
};

// Lower-cases ASCII and trims; returns "" when the text is not a plausible email address.
std::string normalize_email(std::string_view email);

}  // namespace maratang::core
