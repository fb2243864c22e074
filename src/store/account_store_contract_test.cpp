// The contract of core::account_store (core/account_store.hpp), checked through the port, as
// core::auth_service uses it, against every implementation (store/port_contract.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/account_store.hpp"
#include "store/port_contract.hpp"
#include "store/records.hpp"

namespace maratang::store {
namespace {

using core::account_store;
using testing::call;
using testing::implementation_name;
using testing::implementations;

account device_account(const std::string& device, std::int64_t created_ms = 1'700'000'000'000) {
  account a;
  a.device_id = device;
  a.created_ms = created_ms;
  return a;
}

account email_account(const std::string& email) {
  account a;
  a.email = email;
  a.password_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA";
  a.created_ms = 1'700'000'000'000;
  return a;
}

session_record session(const std::string& id, std::int64_t account_id, const std::string& hash,
                       std::int64_t expires_ms) {
  session_record s;
  s.id = id;
  s.account_id = account_id;
  s.refresh_hash = hash;
  s.created_ms = 1000;
  s.expires_ms = expires_ms;
  return s;
}

class account_store_contract : public testing::port_contract {
 protected:
  // Creates an account that must be created; returns it as stored.
  account create(account a) {
    auto made = call(accounts(), &account_store::create_account, std::move(a));
    EXPECT_TRUE(made.has_value()) << "create_account refused an account expected to be new";
    return made.value_or(account{});
  }
  std::optional<account> by_id(std::int64_t id) {
    return call(accounts(), &account_store::find_account, id);
  }
  std::optional<account> by_device(const std::string& d) {
    return call(accounts(), &account_store::find_account_by_device, d);
  }
  std::optional<account> by_email(const std::string& e) {
    return call(accounts(), &account_store::find_account_by_email, e);
  }
  std::optional<account> by_key(const std::string& k) {
    return call(accounts(), &account_store::find_account_by_nickname_key, k);
  }
  status set_nickname(std::int64_t id, const std::string& nick, const std::string& key) {
    return call(accounts(), &account_store::set_nickname, id, nick, key);
  }
  std::optional<session_record> find_session(const std::string& id) {
    return call(accounts(), &account_store::find_session, id);
  }
};

void expect_same_account(const account& got, const account& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.device_id, want.device_id);
  EXPECT_EQ(got.email, want.email);
  EXPECT_EQ(got.password_hash, want.password_hash);
  EXPECT_EQ(got.nickname, want.nickname);
  EXPECT_EQ(got.nickname_key, want.nickname_key);
  EXPECT_EQ(got.created_ms, want.created_ms);
  EXPECT_EQ(got.is_admin, want.is_admin);
}

// --- Accounts ---------------------------------------------------------------------------------

TEST_P(account_store_contract, create_account_answers_the_stored_account_with_a_new_id) {
  account in = email_account("ada@example.com");
  in.device_id = "dev-ada";
  in.nickname = "Ada";
  in.nickname_key = "ada";
  const account a = create(in);
  EXPECT_GT(a.id, 0);
  in.id = a.id;
  expect_same_account(a, in);

  const account b = create(device_account("dev-bob"));
  EXPECT_GT(b.id, 0);
  EXPECT_NE(b.id, a.id);

  // Every field reads back, by every key.
  auto found = by_id(a.id);
  ASSERT_TRUE(found.has_value());
  expect_same_account(*found, a);
  ASSERT_TRUE(by_device("dev-ada").has_value());
  EXPECT_EQ(by_device("dev-ada")->id, a.id);
  ASSERT_TRUE(by_email("ada@example.com").has_value());
  EXPECT_EQ(by_email("ada@example.com")->id, a.id);
  ASSERT_TRUE(by_key("ada").has_value());
  EXPECT_EQ(by_key("ada")->id, a.id);
  ASSERT_TRUE(by_id(b.id).has_value());
  EXPECT_EQ(by_id(b.id)->device_id, "dev-bob");
}

TEST_P(account_store_contract, create_account_never_stores_the_admin_flag) {
  account in = email_account("mallory@example.com");
  in.is_admin = true;
  const account a = create(in);
  EXPECT_FALSE(a.is_admin);
  auto found = by_id(a.id);
  ASSERT_TRUE(found.has_value());
  EXPECT_FALSE(found->is_admin);
  EXPECT_FALSE(by_email("mallory@example.com")->is_admin);
}

TEST_P(account_store_contract, create_account_is_empty_when_the_device_is_taken) {
  const account first = create(device_account("dev-1"));
  account again = device_account("dev-1");
  again.email = "other@example.com";
  EXPECT_FALSE(call(accounts(), &account_store::create_account, again).has_value());
  // Nothing of the refused account was written; the first is untouched.
  EXPECT_FALSE(by_email("other@example.com").has_value());
  ASSERT_TRUE(by_device("dev-1").has_value());
  EXPECT_EQ(by_device("dev-1")->id, first.id);
  EXPECT_EQ(by_device("dev-1")->email, "");
}

TEST_P(account_store_contract, create_account_is_empty_when_the_email_is_taken) {
  const account first = create(email_account("eve@example.com"));
  account again = email_account("eve@example.com");
  again.device_id = "dev-eve";
  again.password_hash = "another";
  EXPECT_FALSE(call(accounts(), &account_store::create_account, again).has_value());
  EXPECT_FALSE(by_device("dev-eve").has_value());
  ASSERT_TRUE(by_email("eve@example.com").has_value());
  EXPECT_EQ(by_email("eve@example.com")->id, first.id);
  EXPECT_EQ(by_email("eve@example.com")->password_hash, first.password_hash);
}

// records.hpp: nickname_key is unique among accounts, also at creation.
TEST_P(account_store_contract, create_account_is_empty_when_the_nickname_key_is_taken) {
  account first = device_account("dev-1");
  first.nickname = "Zed";
  first.nickname_key = "zed";
  const account a = create(first);
  account second = device_account("dev-2");
  second.nickname = "ZED";
  second.nickname_key = "zed";
  EXPECT_FALSE(call(accounts(), &account_store::create_account, second).has_value());
  EXPECT_FALSE(by_device("dev-2").has_value());
  EXPECT_EQ(by_key("zed")->id, a.id);
}

// An empty device id, email or nickname key means "none": any number of accounts lack one, and
// looking up the empty key finds nobody.
TEST_P(account_store_contract, empty_keys_never_collide_and_find_nobody) {
  const account d1 = create(device_account("dev-1"));
  const account d2 = create(device_account("dev-2"));
  const account e1 = create(email_account("one@example.com"));
  const account e2 = create(email_account("two@example.com"));
  EXPECT_NE(d1.id, d2.id);
  EXPECT_NE(e1.id, e2.id);
  EXPECT_FALSE(by_device("").has_value());
  EXPECT_FALSE(by_email("").has_value());
  EXPECT_FALSE(by_key("").has_value());
}

TEST_P(account_store_contract, finds_nothing_for_unknown_keys) {
  create(email_account("known@example.com"));
  EXPECT_FALSE(by_id(987654).has_value());
  EXPECT_FALSE(by_device("no-such-device").has_value());
  EXPECT_FALSE(by_email("unknown@example.com").has_value());
  EXPECT_FALSE(by_key("nobody").has_value());
}

// --- Nicknames --------------------------------------------------------------------------------

TEST_P(account_store_contract, set_nickname_sets_both_fields) {
  const account a = create(device_account("dev-1"));
  EXPECT_EQ(set_nickname(a.id, "Ada Lovelace", "ada lovelace"), status::ok);
  auto found = by_id(a.id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->nickname, "Ada Lovelace");
  EXPECT_EQ(found->nickname_key, "ada lovelace");
  ASSERT_TRUE(by_key("ada lovelace").has_value());
  EXPECT_EQ(by_key("ada lovelace")->id, a.id);
}

TEST_P(account_store_contract, nicknames_of_names_the_accounts_that_exist_and_have_one) {
  const account named = create(device_account("dev-n1"));
  const account other = create(device_account("dev-n2"));
  const account unnamed = create(device_account("dev-n3"));
  ASSERT_EQ(set_nickname(named.id, "Named", "named"), status::ok);
  ASSERT_EQ(set_nickname(other.id, "Other One", "other one"), status::ok);
  const std::int64_t missing = std::max({named.id, other.id, unnamed.id}) + 100;
  auto names = call(accounts(), &account_store::nicknames_of,
                    std::vector<std::int64_t>{other.id, missing, unnamed.id, named.id});
  // One entry each for the named accounts, in the order asked; none for the others.
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], (std::pair<std::int64_t, std::string>{other.id, "Other One"}));
  EXPECT_EQ(names[1], (std::pair<std::int64_t, std::string>{named.id, "Named"}));
  EXPECT_TRUE(call(accounts(), &account_store::nicknames_of, std::vector<std::int64_t>{}).empty());
}

TEST_P(account_store_contract, set_nickname_conflicts_when_another_account_holds_the_key) {
  const account a = create(device_account("dev-a"));
  const account b = create(device_account("dev-b"));
  ASSERT_EQ(set_nickname(a.id, "Ada", "ada"), status::ok);
  ASSERT_EQ(set_nickname(b.id, "Bob", "bob"), status::ok);
  EXPECT_EQ(set_nickname(b.id, "ADA", "ada"), status::conflict);
  // Nothing changed for either.
  EXPECT_EQ(by_key("ada")->id, a.id);
  EXPECT_EQ(by_id(a.id)->nickname, "Ada");
  EXPECT_EQ(by_id(b.id)->nickname, "Bob");
  EXPECT_EQ(by_id(b.id)->nickname_key, "bob");
  EXPECT_EQ(by_key("bob")->id, b.id);
}

TEST_P(account_store_contract, set_nickname_to_the_key_the_account_holds_is_ok) {
  const account a = create(device_account("dev-a"));
  ASSERT_EQ(set_nickname(a.id, "ada", "ada"), status::ok);
  EXPECT_EQ(set_nickname(a.id, "ADA", "ada"), status::ok);  // a new display form, same key
  EXPECT_EQ(by_id(a.id)->nickname, "ADA");
  EXPECT_EQ(by_key("ada")->id, a.id);
}

TEST_P(account_store_contract, set_nickname_is_not_found_without_the_account) {
  EXPECT_EQ(set_nickname(424242, "Ghost", "ghost"), status::not_found);
  EXPECT_FALSE(by_key("ghost").has_value());
  // Also when the key is held by someone else: not_found or conflict, never ok.
  const account a = create(device_account("dev-a"));
  ASSERT_EQ(set_nickname(a.id, "Ada", "ada"), status::ok);
  EXPECT_NE(set_nickname(424242, "Ada", "ada"), status::ok);
  EXPECT_EQ(by_key("ada")->id, a.id);
}

TEST_P(account_store_contract, changing_the_nickname_frees_the_old_key) {
  const account a = create(device_account("dev-a"));
  const account b = create(device_account("dev-b"));
  ASSERT_EQ(set_nickname(a.id, "Ada", "ada"), status::ok);
  ASSERT_EQ(set_nickname(a.id, "Countess", "countess"), status::ok);
  EXPECT_FALSE(by_key("ada").has_value());
  EXPECT_EQ(set_nickname(b.id, "Ada", "ada"), status::ok);
  EXPECT_EQ(by_key("ada")->id, b.id);
  EXPECT_EQ(by_key("countess")->id, a.id);
}

// --- Sessions ---------------------------------------------------------------------------------

TEST_P(account_store_contract, create_session_then_find_it) {
  EXPECT_EQ(call(accounts(), &account_store::create_session, session("s1", 7, "h1", 9000)),
            status::ok);
  auto s = find_session("s1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->id, "s1");
  EXPECT_EQ(s->account_id, 7);
  EXPECT_EQ(s->refresh_hash, "h1");
  EXPECT_EQ(s->created_ms, 1000);
  EXPECT_EQ(s->expires_ms, 9000);
  EXPECT_FALSE(s->revoked);
  EXPECT_FALSE(find_session("s2").has_value());
}

TEST_P(account_store_contract, create_session_conflicts_on_an_existing_id_and_changes_nothing) {
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("s1", 7, "h1", 9000)),
            status::ok);
  EXPECT_EQ(call(accounts(), &account_store::create_session, session("s1", 8, "h2", 12000)),
            status::conflict);
  auto s = find_session("s1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->account_id, 7);
  EXPECT_EQ(s->refresh_hash, "h1");
  EXPECT_EQ(s->expires_ms, 9000);
}

TEST_P(account_store_contract, rotate_refresh_replaces_the_hash_and_expiry_when_it_matches) {
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("s1", 7, "h1", 9000)),
            status::ok);
  EXPECT_EQ(call(accounts(), &account_store::rotate_refresh, "s1", "h1", "h2", 20000), status::ok);
  auto s = find_session("s1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->refresh_hash, "h2");
  EXPECT_EQ(s->expires_ms, 20000);
  EXPECT_EQ(s->account_id, 7);
  EXPECT_FALSE(s->revoked);
  // The next rotation starts from the new hash.
  EXPECT_EQ(call(accounts(), &account_store::rotate_refresh, "s1", "h2", "h3", 30000), status::ok);
  EXPECT_EQ(find_session("s1")->refresh_hash, "h3");
}

TEST_P(account_store_contract, rotate_refresh_conflicts_when_the_hash_differs) {
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("s1", 7, "h1", 9000)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::rotate_refresh, "s1", "h1", "h2", 20000), status::ok);
  // Two refreshes raced with one token: the loser's old hash no longer matches.
  EXPECT_EQ(call(accounts(), &account_store::rotate_refresh, "s1", "h1", "h-loser", 30000),
            status::conflict);
  auto s = find_session("s1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->refresh_hash, "h2");
  EXPECT_EQ(s->expires_ms, 20000);
}

TEST_P(account_store_contract, rotate_refresh_conflicts_on_a_revoked_session) {
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("s1", 7, "h1", 9000)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::revoke_session, "s1"), status::ok);
  // The right hash, but revoked.
  EXPECT_EQ(call(accounts(), &account_store::rotate_refresh, "s1", "h1", "h2", 20000),
            status::conflict);
  auto s = find_session("s1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->refresh_hash, "h1");
  EXPECT_EQ(s->expires_ms, 9000);
  EXPECT_TRUE(s->revoked);
}

TEST_P(account_store_contract, rotate_refresh_is_not_found_without_the_session) {
  EXPECT_EQ(call(accounts(), &account_store::rotate_refresh, "nope", "h1", "h2", 20000),
            status::not_found);
  EXPECT_FALSE(find_session("nope").has_value());
}

TEST_P(account_store_contract, revoke_session_is_idempotent_and_not_found_without_one) {
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("s1", 7, "h1", 9000)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("s2", 7, "h2", 9000)),
            status::ok);
  EXPECT_EQ(call(accounts(), &account_store::revoke_session, "s1"), status::ok);
  EXPECT_TRUE(find_session("s1")->revoked);
  EXPECT_EQ(call(accounts(), &account_store::revoke_session, "s1"), status::ok);
  EXPECT_TRUE(find_session("s1")->revoked);
  EXPECT_FALSE(find_session("s2")->revoked);  // only that one
  EXPECT_EQ(call(accounts(), &account_store::revoke_session, "nope"), status::not_found);
  EXPECT_FALSE(find_session("nope").has_value());
}

TEST_P(account_store_contract, revoked_sessions_lists_revoked_ones_expiring_after_now) {
  const std::int64_t now = 50'000;
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("live-a", 1, "h", now + 1)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("live-b", 2, "h", now + 9)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("at-now", 3, "h", now)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("expired", 4, "h", now - 1)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("kept", 5, "h", now + 5)),
            status::ok);
  for (const char* id : {"live-b", "live-a", "at-now", "expired"}) {
    ASSERT_EQ(call(accounts(), &account_store::revoke_session, id), status::ok);
  }
  auto ids = call(accounts(), &account_store::revoked_sessions, now);
  std::sort(ids.begin(), ids.end());  // the port promises no order
  EXPECT_EQ(ids, (std::vector<std::string>{"live-a", "live-b"}));
  // Earlier, the one expiring at `now` still counts; later, none.
  ids = call(accounts(), &account_store::revoked_sessions, now - 1);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"at-now", "live-a", "live-b"}));
  EXPECT_TRUE(call(accounts(), &account_store::revoked_sessions, now + 9).empty());
}

// A rotation moves the expiry that revoked_sessions filters by.
TEST_P(account_store_contract, revoked_sessions_uses_the_rotated_expiry) {
  ASSERT_EQ(call(accounts(), &account_store::create_session, session("s1", 1, "h1", 100)),
            status::ok);
  ASSERT_EQ(call(accounts(), &account_store::rotate_refresh, "s1", "h1", "h2", 10'000), status::ok);
  ASSERT_EQ(call(accounts(), &account_store::revoke_session, "s1"), status::ok);
  EXPECT_EQ(call(accounts(), &account_store::revoked_sessions, 5'000),
            (std::vector<std::string>{"s1"}));
}

// --- Completions ------------------------------------------------------------------------------

// store/reply.hpp: a completion may call the store again. The device login of
// core::auth_service does exactly this: find, then create, then (if another login won the race)
// find again, then create the session, each from the previous completion.
TEST_P(account_store_contract, a_completion_may_call_the_store_again) {
  account_store& s = accounts();
  create(device_account("dev-raced"));  // "another login" created it meanwhile
  auto out = std::make_shared<std::promise<result<status>>>();
  s.find_account_by_device("dev-raced", [&s, out](result<std::optional<account>> found) {
    if (!found) return out->set_value(found.error());
    // Pretend the lookup missed, as it does in the race: create, which finds the device taken.
    s.create_account(device_account("dev-raced"), [&s, out](result<std::optional<account>> made) {
      if (!made) return out->set_value(made.error());
      if (made->has_value()) return out->set_value(error{errc::internal, "created twice"});
      s.find_account_by_device("dev-raced", [&s, out](result<std::optional<account>> again) {
        if (!again) return out->set_value(again.error());
        if (!again->has_value()) return out->set_value(error{errc::internal, "lost the account"});
        s.create_session(session("sess-raced", (*again)->id, "h", 9000),
                         [out](result<status> st) { out->set_value(std::move(st)); });
      });
    });
  });
  auto f = out->get_future();
  if (f.wait_for(testing::call_timeout) != std::future_status::ready) {
    testing::store_abandoned() = true;
    FAIL() << "a completion that called the store again never finished (deadlock?)";
  }
  auto st = f.get();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(*st, status::ok);
  auto sess = find_session("sess-raced");
  ASSERT_TRUE(sess.has_value());
  EXPECT_EQ(sess->account_id, by_device("dev-raced")->id);
}

audit_entry ban_line(std::int64_t account_id, const std::string& action) {
  audit_entry e;
  e.ts_ms = 1'700'000'000'000;
  e.actor = 1;
  e.action = action;
  e.target = "account:" + std::to_string(account_id);
  e.detail_json = "{}";
  return e;
}

TEST_P(account_store_contract,
       set_ban_stores_the_ban_with_its_audit_line_and_bans_lists_live_ones) {
  const auto a = create(device_account("ban-a"));
  const auto b = create(device_account("ban-b"));
  const auto c = create(device_account("ban-c"));
  EXPECT_EQ(call(accounts(), &account_store::set_ban, a.id, std::int64_t{5000},
                 std::string("why a"), ban_line(a.id, "account.ban")),
            status::ok);
  EXPECT_EQ(call(accounts(), &account_store::set_ban, b.id, std::int64_t{9000},
                 std::string("why b"), ban_line(b.id, "account.ban")),
            status::ok);
  // One ending before "now": not listed.
  EXPECT_EQ(call(accounts(), &account_store::set_ban, c.id, std::int64_t{100}, std::string("old"),
                 ban_line(c.id, "account.ban")),
            status::ok);
  auto live = call(accounts(), &account_store::bans, std::int64_t{1000});
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].account_id, a.id);
  EXPECT_EQ(live[0].until_ms, 5000);
  EXPECT_EQ(live[0].reason, "why a");
  EXPECT_EQ(live[1].account_id, b.id);
  // A second ban replaces the first; until 0 lifts it (and lifting nothing is ok).
  EXPECT_EQ(call(accounts(), &account_store::set_ban, a.id, std::int64_t{7000},
                 std::string("again"), ban_line(a.id, "account.ban")),
            status::ok);
  EXPECT_EQ(call(accounts(), &account_store::set_ban, b.id, std::int64_t{0}, std::string(),
                 ban_line(b.id, "account.unban")),
            status::ok);
  EXPECT_EQ(call(accounts(), &account_store::set_ban, b.id, std::int64_t{0}, std::string(),
                 ban_line(b.id, "account.unban")),
            status::ok);
  live = call(accounts(), &account_store::bans, std::int64_t{1000});
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].account_id, a.id);
  EXPECT_EQ(live[0].until_ms, 7000);
  EXPECT_EQ(live[0].reason, "again");
  // Every change wrote its line; newest first.
  auto lines = call(audit(), &core::audit_log::read_audit, std::int64_t{0}, 10);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0].action, "account.unban");
  EXPECT_EQ(lines[2].action, "account.ban");
  EXPECT_EQ(lines[2].target, "account:" + std::to_string(a.id));
}

TEST_P(account_store_contract, set_ban_is_not_found_without_the_account_and_writes_nothing) {
  EXPECT_EQ(call(accounts(), &account_store::set_ban, std::int64_t{424242}, std::int64_t{5000},
                 std::string("x"), ban_line(424242, "account.ban")),
            status::not_found);
  EXPECT_EQ(call(accounts(), &account_store::set_ban, std::int64_t{424242}, std::int64_t{0},
                 std::string(), ban_line(424242, "account.unban")),
            status::not_found);
  EXPECT_TRUE(call(accounts(), &account_store::bans, std::int64_t{0}).empty());
  EXPECT_TRUE(call(audit(), &core::audit_log::read_audit, std::int64_t{0}, 10).empty());
}

TEST_P(account_store_contract, append_audit_assigns_increasing_ids) {
  auto first = call(audit(), &core::audit_log::append_audit, ban_line(1, "room.close"));
  auto second = call(audit(), &core::audit_log::append_audit, ban_line(2, "account.kick"));
  EXPECT_GT(first, 0);
  EXPECT_GT(second, first);
  auto lines = call(audit(), &core::audit_log::read_audit, std::int64_t{0}, 10);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].id, second);
  EXPECT_EQ(lines[0].action, "account.kick");
  EXPECT_EQ(lines[1].target, "account:1");
}

INSTANTIATE_TEST_SUITE_P(impls, account_store_contract, ::testing::ValuesIn(implementations()),
                         implementation_name);

}  // namespace
}  // namespace maratang::store
