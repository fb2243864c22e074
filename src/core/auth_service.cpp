#include "core/auth_service.hpp"

#include <fmt/format.h>

#include <mutex>

#include "store/worker.hpp"

namespace maratang::core {

namespace {

template <class T>
void fail_unavailable(const std::function<void(result<T>)>& cb) {
  cb(error{errc::unavailable, "Storage is not accepting work; try again."});
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

auth_service::auth_service(store::worker& store, const clock& clk, const signing_key& key,
                           auth_options opts, offload_fn offload)
    : store_(store), clock_(clk), signer_(key), opts_(opts), offload_(std::move(offload)) {}

void auth_service::load_revocations() {
  std::vector<std::string> ids;
  auto now = clock_.now_ms();
  store_.submit([&ids, now](store::backend& b) { ids = b.revoked_sessions(now); });
  store_.flush();
  std::unique_lock lock(revoked_mu_);
  revoked_.insert(ids.begin(), ids.end());
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
  return claims;
}

void auth_service::issue(std::int64_t account_id, bool created, callback<session_tokens> cb) {
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
  auto st = std::make_shared<store::status>(store::status::ok);
  bool queued = store_.submit([s, st](store::backend& b) { *st = b.create_session(s); },
                              [t = std::move(t), st, cb](bool ok) {
                                if (!ok || *st != store::status::ok)
                                  return cb(error{errc::internal});
                                cb(t);
                              });
  if (!queued) fail_unavailable(cb);
}

void auth_service::login_device(std::string device_id, callback<session_tokens> cb) {
  auto now = clock_.now_ms();
  struct outcome {
    std::int64_t id = 0;
    bool created = false;
  };
  auto out = std::make_shared<outcome>();
  bool queued = store_.submit(
      [device_id, now, out](store::backend& b) {
        if (auto a = b.find_account_by_device(device_id)) {
          out->id = a->id;
          return;
        }
        store::account a;
        a.device_id = device_id;
        a.created_ms = now;
        if (b.create_account(a) == store::status::ok) {
          out->id = a.id;
          out->created = true;
        }
      },
      [this, out, cb](bool ok) {
        if (!ok || out->id == 0) return cb(error{errc::internal});
        issue(out->id, out->created, cb);
      });
  if (!queued) fail_unavailable(cb);
}

void auth_service::register_email(std::string email, std::string password,
                                  callback<session_tokens> cb) {
  std::string norm = normalize_email(email);
  if (norm.empty()) return cb(error{errc::bad_field, "That is not an email address."});
  // Hash first, off the network threads; then create the account.
  offload_([this, norm, password = std::move(password), cb] {
    std::string hash;
    try {
      hash = hash_password(password, opts_.pwhash);
    } catch (const std::exception&) {
      return cb(error{errc::unavailable, "The server is out of memory for password hashing."});
    }
    auto now = clock_.now_ms();
    auto st = std::make_shared<store::status>(store::status::ok);
    auto id = std::make_shared<std::int64_t>(0);
    bool queued = store_.submit(
        [norm, hash, now, st, id](store::backend& b) {
          store::account a;
          a.email = norm;
          a.password_hash = hash;
          a.created_ms = now;
          *st = b.create_account(a);
          *id = a.id;
        },
        [this, st, id, cb](bool ok) {
          if (!ok) return cb(error{errc::internal});
          if (*st == store::status::conflict) return cb(error{errc::account_exists});
          issue(*id, true, cb);
        });
    if (!queued) fail_unavailable(cb);
  });
}

void auth_service::login_email(std::string email, std::string password,
                               callback<session_tokens> cb) {
  std::string norm = normalize_email(email);
  if (norm.empty()) return cb(error{errc::bad_credentials});
  auto found = std::make_shared<std::optional<store::account>>();
  bool queued = store_.submit(
      [norm, found](store::backend& b) { *found = b.find_account_by_email(norm); },
      [this, found, password = std::move(password), cb](bool ok) {
        if (!ok) return cb(error{errc::internal});
        offload_([this, found, password, cb] {
          // Verify even for an unknown email, so timing does not tell which emails exist.
          static const std::string dummy = hash_password("maratang-dummy-password", opts_.pwhash);
          const std::string& hash = *found ? (*found)->password_hash : dummy;
          bool good = verify_password(hash, password) && found->has_value();
          if (!good) return cb(error{errc::bad_credentials});
          issue((*found)->id, false, cb);
        });
      });
  if (!queued) fail_unavailable(cb);
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
  struct outcome {
    error err{errc::internal};
    bool ok = false;
    std::int64_t account = 0;
  };
  auto out = std::make_shared<outcome>();
  bool queued = store_.submit(
      [sid, old_hash, new_hash, new_exp, now, out](store::backend& b) {
        auto s = b.find_session(sid);
        if (!s || s->refresh_hash != old_hash) {
          out->err = error{errc::token_invalid};
          return;
        }
        if (s->revoked) {
          out->err = error{errc::token_revoked};
          return;
        }
        if (s->expires_ms <= now) {
          out->err = error{errc::token_expired};
          return;
        }
        if (b.rotate_refresh(sid, old_hash, new_hash, new_exp) != store::status::ok) {
          out->err = error{errc::token_invalid};
          return;
        }
        out->ok = true;
        out->account = s->account_id;
      },
      [this, out, sid, new_refresh, cb](bool ok) {
        if (!ok) return cb(error{errc::internal});
        if (!out->ok) return cb(out->err);
        session_tokens t;
        t.account_id = out->account;
        t.expires_at = clock_.now_ms() + std::int64_t{opts_.token_ttl_s} * 1000;
        t.token = signer_.sign({sid, out->account, t.expires_at});
        t.refresh_token = new_refresh;
        cb(t);
      });
  if (!queued) fail_unavailable(cb);
}

void auth_service::logout(std::string session_id, callback<bool> cb) {
  {
    // Revoke in memory first: the token stops working at once, even before the write lands.
    std::unique_lock lock(revoked_mu_);
    revoked_.insert(session_id);
  }
  bool queued = store_.submit([session_id](store::backend& b) { b.revoke_session(session_id); },
                              [cb](bool ok) {
                                if (!ok) return cb(error{errc::internal});
                                cb(true);
                              });
  if (!queued) fail_unavailable(cb);
}

void auth_service::get_account(std::int64_t id, callback<store::account> cb) {
  auto found = std::make_shared<std::optional<store::account>>();
  bool queued = store_.submit([id, found](store::backend& b) { *found = b.find_account(id); },
                              [found, cb](bool ok) {
                                if (!ok) return cb(error{errc::internal});
                                if (!*found) return cb(error{errc::not_found, "No such account."});
                                cb(**found);
                              });
  if (!queued) fail_unavailable(cb);
}

void auth_service::set_nickname(std::int64_t id, std::string requested, callback<nickname> cb) {
  auto nick = make_nickname(requested, opts_.nicknames);
  if (!nick) return cb(nick.error());
  auto st = std::make_shared<store::status>(store::status::ok);
  bool queued = store_.submit(
      [id, n = *nick, st](store::backend& b) { *st = b.set_nickname(id, n.display, n.key); },
      [n = *nick, st, cb](bool ok) {
        if (!ok) return cb(error{errc::internal});
        if (*st == store::status::conflict) return cb(error{errc::nickname_taken});
        if (*st == store::status::not_found) return cb(error{errc::not_found, "No such account."});
        cb(n);
      });
  if (!queued) fail_unavailable(cb);
}

void auth_service::check_nickname(std::string requested, callback<std::pair<nickname, bool>> cb) {
  auto nick = make_nickname(requested, opts_.nicknames);
  if (!nick) return cb(nick.error());
  auto taken = std::make_shared<bool>(false);
  bool queued = store_.submit(
      [key = nick->key, taken](store::backend& b) {
        *taken = b.find_account_by_nickname_key(key).has_value();
      },
      [n = *nick, taken, cb](bool ok) {
        if (!ok) return cb(error{errc::internal});
        cb(std::make_pair(n, !*taken));
      });
  if (!queued) fail_unavailable(cb);
}

}  // namespace maratang::core
