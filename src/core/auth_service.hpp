// Accounts and sessions: guest (device) and email+password login, signed session tokens with
// refresh and revocation, nicknames. Thread-safe. Every operation that touches storage is
// asynchronous: it runs on the storage worker (and password hashing on the `offload` executor),
// and its callback runs on one of those threads.
#pragma once

#include <functional>
#include <shared_mutex>
#include <string>
#include <unordered_set>

#include "core/crypto.hpp"
#include "core/nickname.hpp"
#include "store/backend.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace maratang::store {
class worker;
}

namespace maratang::core {

struct auth_options {
  int token_ttl_s = 3600;
  int refresh_ttl_s = 30 * 24 * 3600;
  pwhash_params pwhash = pwhash_params::interactive();
  nickname_rules nicknames;
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

  auth_service(store::worker& store, const clock& clk, const signing_key& key, auth_options opts,
               offload_fn offload);

  // Reads the revocation list from storage. Call once at start-up, before serving.
  void load_revocations();

  void login_device(std::string device_id, callback<session_tokens> cb);
  void register_email(std::string email, std::string password, callback<session_tokens> cb);
  void login_email(std::string email, std::string password, callback<session_tokens> cb);
  void refresh(std::string refresh_token, callback<session_tokens> cb);
  void logout(std::string session_id, callback<bool> cb);

  // Verifies a session token: signature, expiry, revocation. Quick; no I/O.
  result<token_claims> authenticate(std::string_view token) const;

  void get_account(std::int64_t id, callback<store::account> cb);
  // Validates, then stores; nickname_taken when another account holds the same key.
  void set_nickname(std::int64_t id, std::string requested, callback<nickname> cb);
  // Whether a nickname is valid and free.
  void check_nickname(std::string requested, callback<std::pair<nickname, bool>> cb);

 private:
  void issue(std::int64_t account_id, bool created, callback<session_tokens> cb);
  bool is_revoked(const std::string& session_id) const;

  store::worker& store_;
  const clock& clock_;
  token_signer signer_;
  auth_options opts_;
  offload_fn offload_;
  mutable std::shared_mutex revoked_mu_;
  std::unordered_set<std::string> revoked_;  // GUARDED_BY(revoked_mu_)
};

// Lower-cases ASCII and trims; returns "" when the text is not a plausible email address.
std::string normalize_email(std::string_view email);

}  // namespace maratang::core
