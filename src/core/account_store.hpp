// The accounts-and-sessions port: what core::auth_service (and the gateway, for the account of a
// connection) needs from storage. Owned here, by its users; implemented by
// store::batched_store (over the memory, SQLite or PostgreSQL backend). One contract suite checks
// every implementation (src/store/account_store_contract_test.cpp). Completions: see
// store/reply.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/records.hpp"
#include "store/reply.hpp"

namespace maratang::core {

class account_store {
 public:
  virtual ~account_store() = default;

  // Stores a new account (without the admin flag, whatever `a` says): the stored account with its
  // id, or an empty optional when its device id, email or nickname key is taken.
  virtual void create_account(store::account a,
                              store::reply<std::optional<store::account>> done) = 0;
  virtual void find_account(std::int64_t id, store::reply<std::optional<store::account>> done) = 0;
  virtual void find_account_by_device(std::string device_id,
                                      store::reply<std::optional<store::account>> done) = 0;
  // `email` normalised (normalize_email).
  virtual void find_account_by_email(std::string email,
                                     store::reply<std::optional<store::account>> done) = 0;
  virtual void find_account_by_nickname_key(std::string key,
                                            store::reply<std::optional<store::account>> done) = 0;
  // The nicknames of these accounts, in one storage operation: {id, nickname} for each that
  // exists and has one (leaderboards name their entries).
  using nickname_list = std::vector<std::pair<std::int64_t, std::string>>;
  virtual void nicknames_of(std::vector<std::int64_t> ids, store::reply<nickname_list> done) = 0;
  // Sets both nickname fields: ok; conflict when another account holds the key; not_found when
  // there is no such account. Setting the key the account already holds is ok.
  virtual void set_nickname(std::int64_t account_id, std::string nickname, std::string key,
                            store::reply<store::status> done) = 0;

  // Sessions. create_session: ok, or conflict when the id exists.
  virtual void create_session(store::session_record s, store::reply<store::status> done) = 0;
  virtual void find_session(std::string id,
                            store::reply<std::optional<store::session_record>> done) = 0;
  // Replaces the refresh hash iff the stored one equals old_hash and the session is not revoked:
  // ok; conflict when the hash differs or the session is revoked; not_found when no such session.
  virtual void rotate_refresh(std::string id, std::string old_hash, std::string new_hash,
                              std::int64_t new_expires_ms, store::reply<store::status> done) = 0;
  // Marks a session revoked (idempotent): ok, or not_found.
  virtual void revoke_session(std::string id, store::reply<store::status> done) = 0;
  // Ids of revoked sessions whose refresh expiry is after now_ms (loaded at start).
  virtual void revoked_sessions(std::int64_t now_ms,
                                store::reply<std::vector<std::string>> done) = 0;

  // Bans. set_ban: bans the account until `until_ms` (0 lifts the ban) and appends `audit` to the
  // audit log, together (both or neither): ok, or not_found when no such account (nothing
  // written). bans: the bans that end after now_ms, by account id (loaded at start).
  virtual void set_ban(std::int64_t account_id, std::int64_t until_ms, std::string reason,
                       store::audit_entry audit, store::reply<store::status> done) = 0;
  virtual void bans(std::int64_t now_ms, store::reply<std::vector<store::ban_record>> done) = 0;
};

// The admin audit log port (the gateway reads it). An action that writes to storage writes its
// line in the same transaction (traces::trace_store::restore, account_store::set_ban, `maratang
// admin grant|revoke`); the others append it once they took effect.
class audit_log {
 public:
  virtual ~audit_log() = default;
  // Newest first, at most `limit`, ids below `before_id` when it is > 0.
  virtual void read_audit(std::int64_t before_id, int limit,
                          store::reply<std::vector<store::audit_entry>> done) = 0;
  // Appends an action that wrote nothing else to storage (closing a room, a kick): its id.
  virtual void append_audit(store::audit_entry e, store::reply<std::int64_t> done) = 0;
};

}  // namespace maratang::core
