#include "core/auth_service.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <ctime>
#include <mutex>

#include <future>

namespace maratang::core {

namespace {

int seconds_of(std::chrono::milliseconds wait) {
  return static_cast<int>(std::max<std::int64_t>(1, (wait.count() + 999) / 1000));
}

error limited(int retry_after_s, std::string_view what) {
  error e{errc::rate_limited, fmt::format("{}; try again in {} s.", what, retry_after_s)};
  e.retry_after_s = retry_after_s;
  return e;
}

error hashing_busy() {
  return limited(1, "The server is busy checking passwords");
}

}  // namespace

std::string normalize_email(std::string_view email) {
  while (!email.empty() && email.front() == ' ')
    email.remove_prefix(1);
  while (!email.empty() && email.back() == ' ')
    email.remove_suffix(1);
  std::string out;
  for (char c : email) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return {};
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  auto at = out.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= out.size() ||
      out.find('@', at + 1) != std::string::npos)
    return {};
  return out;
}

auth_service::auth_service(account_store& store, const clock& clk, const signing_key& key,
                           auth_options opts, offload_fn offload)
    : store_(store),
      clock_(clk),
      signer_(key),
      opts_(std::move(opts)),
      offload_(std::move(offload)),
      account_failures_(clk, opts_.limits.account),
      address_failures_(clk, opts_.limits.address),
      signups_(clk, opts_.limits.signups_per_hour / 3600.0, opts_.limits.signup_burst) {}

int auth_service::hash_per_address_max() const {
  return std::max(1, opts_.limits.hash_queue_max / 4);
}

bool auth_service::reserve_hash(const std::string& addr) {
  const int max = opts_.limits.hash_queue_max;
  std::lock_guard lk(hashing_mu_);
  if (max > 0) {
    if (hashing_ >= max) return false;
    auto it = hashing_by_address_.find(addr);
    if (it != hashing_by_address_.end() && it->second >= hash_per_address_max()) return false;
  }
  ++hashing_;
  ++hashing_by_address_[addr];
  return true;
}

void auth_service::release_hash(const std::string& addr) {
  std::lock_guard lk(hashing_mu_);
  --hashing_;
  if (auto it = hashing_by_address_.find(addr);
      it != hashing_by_address_.end() && --it->second <= 0)
    hashing_by_address_.erase(it);
}

bool auth_service::hash_queue_full(const std::string& addr) const {
  const int max = opts_.limits.hash_queue_max;
  if (max <= 0) return false;
  std::lock_guard lk(hashing_mu_);
  if (hashing_ >= max) return true;
  auto it = hashing_by_address_.find(addr);
  return it != hashing_by_address_.end() && it->second >= hash_per_address_max();
}

void auth_service::allow_signup(const std::string& address_key, std::function<void(bool)> done) {
  const double per_hour = opts_.limits.signups_per_hour;
  if (!shared_ || per_hour <= 0) return done(signups_.allow(address_key));
  // Redis does not answer: this node's own bucket decides (sign-ups go on, each node allowing
  // its own budget, until Redis is back).
  shared_("maratang:limit:signups:" + address_key, per_hour / 3600.0, opts_.limits.signup_burst,
          [this, address_key, done = std::move(done)](std::optional<bool> ok) {
            done(ok ? *ok : signups_.allow(address_key));
          });
}

error auth_service::signup_refused() const {
  const double per_hour = opts_.limits.signups_per_hour;
  return limited(per_hour > 0 ? static_cast<int>(std::ceil(3600.0 / per_hour)) : 1,
                 "Too many new accounts from this address");
}

void auth_service::load_revocations() {
  // At start-up, before serving: waiting here blocks nobody.
  std::promise<result<std::vector<std::string>>> got;
  store_.revoked_sessions(
      clock_.now_ms(), [&got](result<std::vector<std::string>> r) { got.set_value(std::move(r)); });
  auto ids = got.get_future().get();
  if (!ids) throw std::runtime_error("cannot read the revoked sessions: " + ids.error().message);
  std::promise<result<std::vector<store::ban_record>>> got_bans;
  store_.bans(clock_.now_ms(), [&got_bans](result<std::vector<store::ban_record>> r) {
    got_bans.set_value(std::move(r));
  });
  auto bans = got_bans.get_future().get();
  if (!bans) throw std::runtime_error("cannot read the bans: " + bans.error().message);
  std::unique_lock lock(revoked_mu_);
  revoked_.insert(ids->begin(), ids->end());
  for (auto& b : *bans)
    bans_[b.account_id] = ban_entry{b.until_ms, std::move(b.reason)};
}

void auth_service::ban(std::int64_t admin, std::int64_t account_id, epoch_ms until_ms,
                       std::string reason, callback<store::status> cb) {
  store::audit_entry line;
  line.ts_ms = clock_.now_ms();
  line.actor = admin;
  line.action = until_ms ? "account.ban" : "account.unban";
  line.target = fmt::format("account:{}", account_id);
  boost::json::object detail;
  if (until_ms) {
    detail["until"] = until_ms == kBanForever ? boost::json::value(nullptr) : until_ms;
    detail["message"] = reason;
  }
  line.detail_json = boost::json::serialize(detail);
  store_.set_ban(account_id, until_ms, reason, std::move(line),
                 [this, account_id, until_ms, reason, cb](result<store::status> st) {
                   if (st && *st == store::status::ok) note_ban(account_id, until_ms, reason);
                   cb(std::move(st));
                 });
}

void auth_service::note_ban(std::int64_t account_id, epoch_ms until_ms, std::string reason) {
  std::unique_lock lock(revoked_mu_);
  if (until_ms == 0) {
    bans_.erase(account_id);
  } else {
    bans_[account_id] = ban_entry{until_ms, std::move(reason)};
  }
}

result<> auth_service::check_banned(std::int64_t account_id) const {
  std::shared_lock lock(revoked_mu_);
  auto it = bans_.find(account_id);
  if (it == bans_.end() || it->second.until <= clock_.now_ms()) return {};
  std::string text = "This account is banned";
  if (it->second.until != kBanForever) {
    const auto secs = static_cast<std::time_t>(it->second.until / 1000);
    text += fmt::format(" until {:%Y-%m-%d %H:%M} UTC", fmt::gmtime(secs));
  }
  text += it->second.reason.empty() ? "." : ": " + it->second.reason;
  return error{errc::account_banned, std::move(text)};
}

void auth_service::note_revoked(const std::string& session_id) {
  std::unique_lock lock(revoked_mu_);
  revoked_.insert(session_id);
}

bool auth_service::is_revoked(const std::string& session_id) const {
  std::shared_lock lock(revoked_mu_);
  return revoked_.count(session_id) > 0;
}

result<token_claims> auth_service::authenticate(std::string_view token) const {
  if (token.empty()) return error{errc::unauthorized};
  auto claims = signer_.verify(token, clock_.now_ms());
  if (!claims) return claims;
  if (is_revoked(claims->session_id)) return error{errc::token_revoked};
  if (auto banned = check_banned(claims->account_id); !banned) return banned.error();
  return claims;
}

void auth_service::issue(std::int64_t account_id, bool created, callback<session_tokens> cb) {
  if (auto banned = check_banned(account_id); !banned) return cb(banned.error());
  auto now = clock_.now_ms();
  store::session_record s;
  s.id = random_token(16);
  s.account_id = account_id;
  std::string secret = random_token(32);
  std::string refresh = s.id + "." + secret;
  s.refresh_hash = sha256_hex(refresh);
  s.created_ms = now;
  s.expires_ms = now + std::int64_t{opts_.refresh_ttl_s} * 1000;
  session_tokens t;
  t.account_id = account_id;
  t.created = created;
  t.expires_at = now + std::int64_t{opts_.token_ttl_s} * 1000;
  t.token = signer_.sign({s.id, account_id, t.expires_at});
  t.refresh_token = std::move(refresh);
  store_.create_session(std::move(s), [t = std::move(t), cb](result<store::status> st) {
    if (!st) return cb(st.error());
    if (*st != store::status::ok) return cb(error{errc::internal});  // a session id collided
    cb(t);
  });
}

void auth_service::login_device(std::string device_id, std::string client,
                                callback<session_tokens> cb) {
  store_.find_account_by_device(device_id, [this, device_id, key = address_key(client),
                                            cb](result<std::optional<store::account>> found) {
    if (!found) return cb(found.error());
    if (*found) return issue((*found)->id, false, cb);
    // Only a new account counts against the address (logging in again is not limited).
    allow_signup(key, [this, device_id, cb](bool allowed) {
      if (!allowed) return cb(signup_refused());
      store::account a;
      a.device_id = device_id;
      a.created_ms = clock_.now_ms();
      store_.create_account(
          std::move(a), [this, device_id, cb](result<std::optional<store::account>> made) {
            if (!made) return cb(made.error());
            if (*made) return issue((*made)->id, true, cb);
            // Another login created it meanwhile: log in to that one.
            store_.find_account_by_device(device_id,
                                          [this, cb](result<std::optional<store::account>> again) {
                                            if (!again) return cb(again.error());
                                            if (!*again) return cb(error{errc::internal});
                                            issue((*again)->id, false, cb);
                                          });
          });
    });
  });
}

void auth_service::register_email(std::string email, std::string password, std::string client,
                                  callback<session_tokens> cb) {
  std::string norm = normalize_email(email);
  if (norm.empty()) return cb(error{errc::bad_field, "That is not an email address."});
  if (opts_.passwords) {
    if (auto ok = opts_.passwords->check(password, norm); !ok) return cb(ok.error());
  }
  // Every attempt counts, whether the email is free or not: this bounds how fast anyone can
  // learn which emails have accounts (409 account_exists).
  std::string addr = address_key(client);
  allow_signup(addr, [this, norm, addr, password = std::move(password), cb](bool allowed) mutable {
    if (!allowed) return cb(signup_refused());
    if (!reserve_hash(addr)) return cb(hashing_busy());  // after the sign-up check: it counts
    hash_and_register(std::move(norm), std::move(addr), std::move(password), std::move(cb));
  });
}

void auth_service::hash_and_register(std::string norm, std::string addr, std::string password,
                                     callback<session_tokens> cb) {
  // Hash first, off the network threads; then create the account.
  offload_([this, norm, addr, password = std::move(password), cb] {
    std::string hash;
    try {
      hash = hash_password(password, opts_.pwhash);
    } catch (const std::exception&) {
      release_hash(addr);
      return cb(error{errc::unavailable, "The server is out of memory for password hashing."});
    }
    release_hash(addr);
    store::account a;
    a.email = norm;
    a.password_hash = std::move(hash);
    a.created_ms = clock_.now_ms();
    store_.create_account(std::move(a), [this, cb](result<std::optional<store::account>> made) {
      if (!made) return cb(made.error());
      if (!*made) return cb(error{errc::account_exists});
      issue((*made)->id, true, cb);
    });
  });
}

void auth_service::login_email(std::string email, std::string password, std::string client,
                               callback<session_tokens> cb) {
  std::string norm = normalize_email(email);
  if (norm.empty()) return cb(error{errc::bad_credentials});
  // While the hashing queue is full, refuse before counting: attempts refused for that reason
  // must not be given back to a flood (it would keep the queue full for everyone).
  std::string addr = address_key(client);
  if (hash_queue_full(addr)) return cb(hashing_busy());
  // Each attempt counts as a failure until it succeeds; refused attempts cost no hash.
  const std::string addr_key = "maratang:limit:login:address:" + addr;
  const std::string norm_key = "maratang:limit:login:email:" + norm;
  acquire_failure(
      address_failures_, opts_.limits.address, addr_key, addr,
      [this, norm, addr, addr_key, norm_key, password = std::move(password), cb = std::move(cb)](
          std::chrono::milliseconds wait, bool addr_shared) mutable {
        if (wait.count() > 0) {
          return cb(limited(seconds_of(wait), "Too many failed logins from this address"));
        }
        acquire_failure(
            account_failures_, opts_.limits.account, norm_key, norm,
            [this, norm, addr, addr_key, norm_key, addr_shared, password = std::move(password),
             cb = std::move(cb)](std::chrono::milliseconds account_wait, bool norm_shared) mutable {
              if (account_wait.count() > 0) {
                failure_forgiven(address_failures_, addr_shared, addr_key, addr);
                return cb(
                    limited(seconds_of(account_wait), "Too many failed logins to this account"));
              }
              auto give_back = [this, norm, addr, addr_key, norm_key, addr_shared, norm_shared] {
                failure_forgiven(account_failures_, norm_shared, norm_key, norm);
                failure_forgiven(address_failures_, addr_shared, addr_key, addr);
              };
              check_password(norm, addr, std::move(password), std::move(give_back), std::move(cb));
            });
      });
}

void auth_service::acquire_failure(backoff_limiter& limiter, const backoff_options& rules,
                                   std::string shared_key, std::string key,
                                   std::function<void(std::chrono::milliseconds, bool)> done) {
  if (!shared_backoff_.acquire || !limiter.enabled()) return done(limiter.acquire(key), false);
  shared_backoff_.acquire(std::move(shared_key), rules,
                          [&limiter, key = std::move(key),
                           done = std::move(done)](std::optional<std::chrono::milliseconds> wait) {
                            if (wait) return done(*wait, true);
                            // Redis does not answer: this node counts.
                            done(limiter.acquire(key), false);
                          });
}

void auth_service::failure_forgiven(backoff_limiter& limiter, bool shared,
                                    const std::string& shared_key, const std::string& key) {
  if (shared && shared_backoff_.forgive) return shared_backoff_.forgive(shared_key);
  limiter.forgive(key);
}

void auth_service::check_password(std::string norm, std::string addr, std::string password,
                                  std::function<void()> give_back, callback<session_tokens> cb) {
  if (!reserve_hash(addr)) {
    give_back();
    return cb(hashing_busy());
  }
  store_.find_account_by_email(norm, [this, norm, addr, give_back, password = std::move(password),
                                      cb](result<std::optional<store::account>> r) {
    if (!r) {
      release_hash(addr);
      give_back();
      return cb(r.error());
    }
    auto found = std::make_shared<std::optional<store::account>>(std::move(*r));
    offload_([this, found, norm, addr, give_back, password, cb] {
      // Verify even for an unknown email, so timing does not tell which emails exist.
      static const std::string dummy = hash_password("maratang-dummy-password", opts_.pwhash);
      const std::string& hash = *found ? (*found)->password_hash : dummy;
      bool good = verify_password(hash, password) && found->has_value();
      release_hash(addr);
      if (!good) return cb(error{errc::bad_credentials});
      // A success clears the account's count (here and, with several nodes, in Redis) and does
      // not count against the address.
      account_failures_.reset(norm);
      if (shared_backoff_.reset) shared_backoff_.reset("maratang:limit:login:email:" + norm);
      give_back();
      issue((*found)->id, false, cb);
    });
  });
}

void auth_service::refresh(std::string refresh_token, callback<session_tokens> cb) {
  auto dot = refresh_token.find('.');
  if (dot == std::string::npos || dot == 0) return cb(error{errc::token_invalid});
  std::string sid = refresh_token.substr(0, dot);
  std::string old_hash = sha256_hex(refresh_token);
  auto now = clock_.now_ms();
  std::string secret = random_token(32);
  std::string new_refresh = sid + "." + secret;
  std::string new_hash = sha256_hex(new_refresh);
  std::int64_t new_exp = now + std::int64_t{opts_.refresh_ttl_s} * 1000;
  store_.find_session(sid, [this, sid, old_hash, new_hash, new_exp, now, new_refresh,
                            cb](result<std::optional<store::session_record>> found) {
    if (!found) return cb(found.error());
    const auto& s = *found;
    if (!s || s->refresh_hash != old_hash) return cb(error{errc::token_invalid});
    if (s->revoked) return cb(error{errc::token_revoked});
    if (s->expires_ms <= now) return cb(error{errc::token_expired});
    const std::int64_t account = s->account_id;
    if (auto banned = check_banned(account); !banned) return cb(banned.error());
    // Compare-and-set: of two refreshes racing with one token, one wins.
    store_.rotate_refresh(sid, old_hash, new_hash, new_exp,
                          [this, sid, account, new_refresh, cb](result<store::status> st) {
                            if (!st) return cb(st.error());
                            if (*st != store::status::ok) return cb(error{errc::token_invalid});
                            session_tokens t;
                            t.account_id = account;
                            t.expires_at = clock_.now_ms() + std::int64_t{opts_.token_ttl_s} * 1000;
                            t.token = signer_.sign({sid, account, t.expires_at});
                            t.refresh_token = new_refresh;
                            cb(t);
                          });
  });
}

void auth_service::logout(std::string session_id, callback<bool> cb) {
  {
    // Revoke in memory first: the token stops working at once, even before the write lands.
    std::unique_lock lock(revoked_mu_);
    revoked_.insert(session_id);
  }
  store_.revoke_session(std::move(session_id), [cb](result<store::status> st) {
    if (!st) return cb(st.error());
    cb(true);
  });
}

void auth_service::get_account(std::int64_t id, callback<store::account> cb) {
  store_.find_account(id, [cb](result<std::optional<store::account>> found) {
    if (!found) return cb(found.error());
    if (!*found) return cb(error{errc::not_found, "No such account."});
    cb(std::move(**found));
  });
}

void auth_service::set_nickname(std::int64_t id, std::string requested, callback<nickname> cb) {
  auto nick = make_nickname(requested, opts_.nicknames);
  if (!nick) return cb(nick.error());
  store_.set_nickname(id, nick->display, nick->key, [n = *nick, cb](result<store::status> st) {
    if (!st) return cb(st.error());
    if (*st == store::status::conflict) return cb(error{errc::nickname_taken});
    if (*st == store::status::not_found) return cb(error{errc::not_found, "No such account."});
    cb(n);
  });
}

void auth_service::check_nickname(std::string requested, callback<std::pair<nickname, bool>> cb) {
  auto nick = make_nickname(requested, opts_.nicknames);
  if (!nick) return cb(nick.error());
  store_.find_account_by_nickname_key(nick->key,
                                      [n = *nick, cb](result<std::optional<store::account>> found) {
                                        if (!found) return cb(found.error());
                                        cb(std::make_pair(n, !found->has_value()));
                                      });
}

void auth_service::find_by_nickname(std::string name, callback<std::optional<std::int64_t>> cb) {
  auto nick = make_nickname(name, opts_.nicknames);
  if (!nick) return cb(std::optional<std::int64_t>{});
  store_.find_account_by_nickname_key(
      nick->key, [cb = std::move(cb)](result<std::optional<store::account>> found) {
        if (!found) return cb(found.error());
        cb(*found ? std::optional<std::int64_t>{(*found)->id} : std::nullopt);
      });
}

}  // namespace maratang::core
