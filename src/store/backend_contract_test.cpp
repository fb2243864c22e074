// The storage contract suite: every test runs against every backend, so that memory behaves
// exactly like sqlite. A new backend adds itself to `backends` below.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/backend.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/postgres/pg_test_cluster.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/test_temp_dir.hpp"

namespace maratang::store {
namespace {

enum class kind { memory, sqlite, postgres };

std::string kind_name(kind k) {
  return k == kind::memory ? "memory" : k == kind::sqlite ? "sqlite" : "postgres";
}

account make_account(const std::string& device, const std::string& email = {}) {
  account a;
  a.device_id = device;
  a.email = email;
  a.password_hash = email.empty() ? "" : "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA";
  a.created_ms = 1'700'000'000'000;
  return a;
}

session_record make_session(const std::string& id, std::int64_t account_id, const std::string& hash,
                            std::int64_t expires_ms) {
  session_record s;
  s.id = id;
  s.account_id = account_id;
  s.refresh_hash = hash;
  s.created_ms = 1000;
  s.expires_ms = expires_ms;
  return s;
}

game_record make_game(const std::string& id, std::int64_t ended_ms,
                      std::vector<std::int64_t> players) {
  game_record g;
  g.id = id;
  g.mode = "mafia";
  g.room_id = "room-" + id;
  g.started_ms = ended_ms - 100;
  g.ended_ms = ended_ms;
  g.players = std::move(players);
  g.record_json = R"({"winner":"town","id":")" + id + "\"}";
  return g;
}

using tally_list = std::vector<std::pair<std::string, std::string>>;
using tally_map = std::map<std::string, std::map<std::string, std::int64_t>>;

player_outcome make_outcome(std::int64_t account, game_result r, std::int64_t ms,
                            tally_list tallies = {}) {
  return player_outcome{account, r, ms, std::move(tallies)};
}

log_entry make_entry(const std::string& stream, std::int64_t seq) {
  log_entry e;
  e.stream = stream;
  e.seq = seq;
  e.ts_ms = 5000 + seq;
  e.kind = seq % 2 == 0 ? "chat" : "action";
  e.actor = seq % 3;
  e.payload_json = R"({"n":)" + std::to_string(seq) + "}";
  return e;
}

std::vector<std::string> ids_of(const std::vector<game_record>& games) {
  std::vector<std::string> ids;
  for (const auto& g : games)
    ids.push_back(g.id);
  return ids;
}

std::vector<std::int64_t> seqs_of(const std::vector<log_entry>& entries) {
  std::vector<std::int64_t> seqs;
  for (const auto& e : entries)
    seqs.push_back(e.seq);
  return seqs;
}

class store_contract : public ::testing::TestWithParam<kind> {
 protected:
  void SetUp() override {
    db_ = open_fresh();
    db_->migrate();
  }

  // A new, empty, unmigrated backend of the kind under test.
  std::unique_ptr<backend> open_fresh() {
    if (GetParam() == kind::memory) return std::make_unique<memory_backend>();
    if (GetParam() == kind::postgres) {
      // A fresh schema on the server the tests share: empty, and no other test sees it.
      pg_options o;
      o.schema = testing::fresh_schema_name();
      return pg_backend::open(testing::shared_test_url(MARATANG_SOURCE_DIR), o);
    }
    dirs_.push_back(std::make_unique<testing::temp_dir>());
    return sqlite_backend::open(dirs_.back()->file("store.db"));
  }

  backend& db() { return *db_; }

  // Creates an account that must not conflict; returns its id.
  std::int64_t add_account(const std::string& device, const std::string& email = {}) {
    account a = make_account(device, email);
    EXPECT_EQ(db().create_account(a), status::ok);
    return a.id;
  }

  std::vector<std::unique_ptr<testing::temp_dir>> dirs_;  // outlive db_: declared first
  std::unique_ptr<backend> db_;
};

// --- Basics and schema ------------------------------------------------------------------------

TEST_P(store_contract, name_and_ping) {
  EXPECT_EQ(db().name(), kind_name(GetParam()));
  EXPECT_TRUE(db().ping());
}

TEST_P(store_contract, fresh_backend_is_at_version_zero) {
  auto fresh = open_fresh();
  EXPECT_EQ(fresh->schema_version(), 0);
  EXPECT_GT(fresh->latest_schema_version(), 0);
}

TEST_P(store_contract, migrate_is_idempotent) {
  EXPECT_EQ(db().schema_version(), db().latest_schema_version());
  const std::int64_t id = add_account("dev-1");
  db().migrate();
  db().migrate();
  EXPECT_EQ(db().schema_version(), db().latest_schema_version());
  EXPECT_TRUE(db().find_account(id).has_value());
}

// --- Accounts ---------------------------------------------------------------------------------

TEST_P(store_contract, create_account_assigns_increasing_ids_and_round_trips) {
  account a = make_account("dev-a", "a@example.com");
  a.nickname = "Alice";
  a.nickname_key = "alice";
  ASSERT_EQ(db().create_account(a), status::ok);
  EXPECT_GT(a.id, 0);
  account b = make_account("dev-b");
  ASSERT_EQ(db().create_account(b), status::ok);
  EXPECT_GT(b.id, a.id);

  const auto found = db().find_account(a.id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, a.id);
  EXPECT_EQ(found->device_id, "dev-a");
  EXPECT_EQ(found->email, "a@example.com");
  EXPECT_EQ(found->password_hash, a.password_hash);
  EXPECT_EQ(found->nickname, "Alice");
  EXPECT_EQ(found->nickname_key, "alice");
  EXPECT_EQ(found->created_ms, a.created_ms);

  const auto fb = db().find_account(b.id);
  ASSERT_TRUE(fb.has_value());
  EXPECT_EQ(fb->email, "");
  EXPECT_EQ(fb->nickname_key, "");
  EXPECT_FALSE(db().find_account(b.id + 1000).has_value());
}

TEST_P(store_contract, find_account_by_device_email_and_nickname_key) {
  const std::int64_t a = add_account("dev-a", "a@example.com");
  const std::int64_t b = add_account("dev-b", "b@example.com");
  ASSERT_EQ(db().set_nickname(b, "Bob", "bob"), status::ok);

  EXPECT_EQ(db().find_account_by_device("dev-a")->id, a);
  EXPECT_EQ(db().find_account_by_device("dev-b")->id, b);
  EXPECT_EQ(db().find_account_by_email("a@example.com")->id, a);
  EXPECT_EQ(db().find_account_by_email("b@example.com")->id, b);
  EXPECT_EQ(db().find_account_by_nickname_key("bob")->id, b);
  EXPECT_EQ(db().find_account_by_nickname_key("bob")->nickname, "Bob");

  EXPECT_FALSE(db().find_account_by_device("dev-c").has_value());
  EXPECT_FALSE(db().find_account_by_email("c@example.com").has_value());
  EXPECT_FALSE(db().find_account_by_nickname_key("carol").has_value());
}

TEST_P(store_contract, empty_unique_fields_never_collide_and_are_not_found) {
  // Several accounts without an email, and one without a device either.
  add_account("dev-1");
  add_account("dev-2");
  add_account("", "only-email@example.com");
  add_account("", "other@example.com");
  EXPECT_FALSE(db().find_account_by_device("").has_value());
  EXPECT_FALSE(db().find_account_by_email("").has_value());
  EXPECT_FALSE(db().find_account_by_nickname_key("").has_value());
}

TEST_P(store_contract, duplicate_device_or_email_conflicts_and_writes_nothing) {
  const std::int64_t a = add_account("dev-a", "a@example.com");

  account same_device = make_account("dev-a", "new@example.com");
  EXPECT_EQ(db().create_account(same_device), status::conflict);
  EXPECT_FALSE(db().find_account_by_email("new@example.com").has_value());

  account same_email = make_account("dev-new", "a@example.com");
  EXPECT_EQ(db().create_account(same_email), status::conflict);
  EXPECT_FALSE(db().find_account_by_device("dev-new").has_value());

  EXPECT_EQ(db().find_account_by_device("dev-a")->id, a);
  // The store still accepts new accounts afterwards.
  EXPECT_GT(add_account("dev-b", "b@example.com"), a);
}

TEST_P(store_contract, set_nickname_results) {
  const std::int64_t a = add_account("dev-a");
  const std::int64_t b = add_account("dev-b");

  EXPECT_EQ(db().set_nickname(a, "Alice", "alice"), status::ok);
  auto found = db().find_account(a);
  EXPECT_EQ(found->nickname, "Alice");
  EXPECT_EQ(found->nickname_key, "alice");

  // Another account holds the key: conflict, nothing changes.
  EXPECT_EQ(db().set_nickname(b, "ALICE", "alice"), status::conflict);
  EXPECT_EQ(db().find_account(b)->nickname, "");
  EXPECT_EQ(db().find_account_by_nickname_key("alice")->id, a);

  // The key the account already holds: ok, and the display form may change.
  EXPECT_EQ(db().set_nickname(a, "ALICE", "alice"), status::ok);
  EXPECT_EQ(db().find_account(a)->nickname, "ALICE");

  // No such account.
  EXPECT_EQ(db().set_nickname(a + b + 100, "Zed", "zed"), status::not_found);
  EXPECT_FALSE(db().find_account_by_nickname_key("zed").has_value());
}

TEST_P(store_contract, changing_nickname_frees_the_old_key) {
  const std::int64_t a = add_account("dev-a");
  const std::int64_t b = add_account("dev-b");
  ASSERT_EQ(db().set_nickname(a, "Alice", "alice"), status::ok);
  ASSERT_EQ(db().set_nickname(a, "Alicia", "alicia"), status::ok);
  EXPECT_FALSE(db().find_account_by_nickname_key("alice").has_value());
  EXPECT_EQ(db().set_nickname(b, "Alice", "alice"), status::ok);
  EXPECT_EQ(db().find_account_by_nickname_key("alice")->id, b);
  EXPECT_EQ(db().find_account_by_nickname_key("alicia")->id, a);
}

// --- Sessions ---------------------------------------------------------------------------------

TEST_P(store_contract, sessions_create_find_and_conflict) {
  const std::int64_t a = add_account("dev-a");
  session_record s = make_session("sess-1", a, "hash-1", 9000);
  ASSERT_EQ(db().create_session(s), status::ok);

  const auto found = db().find_session("sess-1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, "sess-1");
  EXPECT_EQ(found->account_id, a);
  EXPECT_EQ(found->refresh_hash, "hash-1");
  EXPECT_EQ(found->created_ms, 1000);
  EXPECT_EQ(found->expires_ms, 9000);
  EXPECT_FALSE(found->revoked);

  session_record dup = make_session("sess-1", a, "other", 1);
  EXPECT_EQ(db().create_session(dup), status::conflict);
  EXPECT_EQ(db().find_session("sess-1")->refresh_hash, "hash-1");
  EXPECT_FALSE(db().find_session("sess-2").has_value());
}

TEST_P(store_contract, rotate_refresh_results) {
  ASSERT_EQ(db().create_session(make_session("s", 1, "h1", 9000)), status::ok);

  EXPECT_EQ(db().rotate_refresh("s", "h1", "h2", 12000), status::ok);
  auto found = db().find_session("s");
  EXPECT_EQ(found->refresh_hash, "h2");
  EXPECT_EQ(found->expires_ms, 12000);

  // A stale (already rotated) hash: conflict, nothing changes.
  EXPECT_EQ(db().rotate_refresh("s", "h1", "h3", 15000), status::conflict);
  found = db().find_session("s");
  EXPECT_EQ(found->refresh_hash, "h2");
  EXPECT_EQ(found->expires_ms, 12000);

  // Revoked: conflict even with the right hash.
  ASSERT_EQ(db().revoke_session("s"), status::ok);
  EXPECT_EQ(db().rotate_refresh("s", "h2", "h3", 15000), status::conflict);
  EXPECT_EQ(db().find_session("s")->refresh_hash, "h2");

  EXPECT_EQ(db().rotate_refresh("missing", "h1", "h2", 1), status::not_found);
}

TEST_P(store_contract, revoke_session_is_idempotent) {
  ASSERT_EQ(db().create_session(make_session("s", 1, "h", 9000)), status::ok);
  EXPECT_EQ(db().revoke_session("s"), status::ok);
  EXPECT_TRUE(db().find_session("s")->revoked);
  EXPECT_EQ(db().revoke_session("s"), status::ok);
  EXPECT_TRUE(db().find_session("s")->revoked);
  EXPECT_EQ(db().revoke_session("missing"), status::not_found);
}

TEST_P(store_contract, revoked_sessions_lists_revoked_and_unexpired_only) {
  ASSERT_EQ(db().create_session(make_session("c-live", 1, "h", 2000)), status::ok);
  ASSERT_EQ(db().create_session(make_session("a-live", 1, "h", 5000)), status::ok);
  ASSERT_EQ(db().create_session(make_session("b-expired", 1, "h", 999)), status::ok);
  ASSERT_EQ(db().create_session(make_session("d-at-now", 1, "h", 1000)), status::ok);
  ASSERT_EQ(db().create_session(make_session("e-not-revoked", 1, "h", 5000)), status::ok);
  for (const char* id : {"c-live", "a-live", "b-expired", "d-at-now"}) {
    ASSERT_EQ(db().revoke_session(id), status::ok);
  }
  // Expiry must be strictly after now; order is by id.
  EXPECT_EQ(db().revoked_sessions(1000), (std::vector<std::string>{"a-live", "c-live"}));
  EXPECT_EQ(db().revoked_sessions(3000), (std::vector<std::string>{"a-live"}));
  EXPECT_TRUE(db().revoked_sessions(5000).empty());
}

// --- Games ------------------------------------------------------------------------------------

TEST_P(store_contract, games_insert_find_and_conflict) {
  const game_record g = make_game("g1", 10'000, {7, 3, 5});
  ASSERT_EQ(db().insert_game(g), status::ok);

  const auto found = db().find_game("g1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, "g1");
  EXPECT_EQ(found->mode, "mafia");
  EXPECT_EQ(found->room_id, "room-g1");
  EXPECT_EQ(found->started_ms, 9'900);
  EXPECT_EQ(found->ended_ms, 10'000);
  EXPECT_EQ(found->players, (std::vector<std::int64_t>{7, 3, 5}));  // seat order
  EXPECT_EQ(found->record_json, g.record_json);
  EXPECT_FALSE(found->is_private);

  // Same id: conflict, and neither the record nor its players change.
  EXPECT_EQ(db().insert_game(make_game("g1", 20'000, {9})), status::conflict);
  EXPECT_EQ(db().find_game("g1")->ended_ms, 10'000);
  EXPECT_EQ(db().find_game("g1")->players, (std::vector<std::int64_t>{7, 3, 5}));
  EXPECT_TRUE(db().games_of(9, 10, 0, true).empty());

  EXPECT_FALSE(db().find_game("g2").has_value());
}

TEST_P(store_contract, casebooks_put_find_and_replace) {
  EXPECT_FALSE(db().find_casebook("g1").has_value());
  casebook_record c{"g1", "등대의 밤", "ko", "template", "# 등대의 밤\n\n첫 장.", 5'000};
  db().put_casebook(c);
  auto found = db().find_casebook("g1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->title, "등대의 밤");
  EXPECT_EQ(found->language, "ko");
  EXPECT_EQ(found->author, "template");
  EXPECT_EQ(found->markdown, c.markdown);
  EXPECT_EQ(found->created_ms, 5'000);
  // A rewrite (the LLM's, after the template's) replaces it.
  c.author = "llm";
  c.markdown = "# Rewritten";
  db().put_casebook(c);
  EXPECT_EQ(db().find_casebook("g1")->author, "llm");
  EXPECT_EQ(db().find_casebook("g1")->markdown, "# Rewritten");
  EXPECT_FALSE(db().find_casebook("g2").has_value());
}

TEST_P(store_contract, games_of_orders_newest_first_with_limit_and_before) {
  ASSERT_EQ(db().insert_game(make_game("g-old", 1000, {1, 2})), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-new", 3000, {2, 1})), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-mid", 2000, {1, 3})), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-other", 2500, {2, 3})), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-empty", 2600, {})), status::ok);

  EXPECT_EQ(ids_of(db().games_of(1, 10, 0, true)),
            (std::vector<std::string>{"g-new", "g-mid", "g-old"}));
  EXPECT_EQ(ids_of(db().games_of(1, 2, 0, true)), (std::vector<std::string>{"g-new", "g-mid"}));
  // Strictly before: a game that ended exactly at before_ms is left out.
  EXPECT_EQ(ids_of(db().games_of(1, 10, 3000, true)), (std::vector<std::string>{"g-mid", "g-old"}));
  EXPECT_EQ(ids_of(db().games_of(1, 1, 2001, true)), (std::vector<std::string>{"g-mid"}));
  EXPECT_TRUE(db().games_of(1, 10, 1000, true).empty());
  EXPECT_TRUE(db().games_of(1, 0, 0, true).empty());
  EXPECT_TRUE(db().games_of(99, 10, 0, true).empty());

  // Full records come back, players included.
  const auto games = db().games_of(3, 10, 0, true);
  ASSERT_EQ(ids_of(games), (std::vector<std::string>{"g-other", "g-mid"}));
  EXPECT_EQ(games[0].players, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(games[0].mode, "mafia");
}

TEST_P(store_contract, is_private_round_trips_and_games_of_can_leave_private_games_out) {
  game_record priv = make_game("g-priv", 2000, {1, 2});
  priv.is_private = true;
  ASSERT_EQ(db().insert_game(priv), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-pub", 1000, {1})), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-pub2", 3000, {2, 1})), status::ok);

  EXPECT_TRUE(db().find_game("g-priv")->is_private);
  EXPECT_FALSE(db().find_game("g-pub")->is_private);
  // All of an account's games, or only the public ones (limit and before apply after the filter).
  EXPECT_EQ(ids_of(db().games_of(1, 10, 0, true)),
            (std::vector<std::string>{"g-pub2", "g-priv", "g-pub"}));
  EXPECT_EQ(ids_of(db().games_of(1, 10, 0, false)), (std::vector<std::string>{"g-pub2", "g-pub"}));
  EXPECT_EQ(ids_of(db().games_of(1, 2, 0, false)), (std::vector<std::string>{"g-pub2", "g-pub"}));
  EXPECT_EQ(ids_of(db().games_of(1, 10, 3000, false)), (std::vector<std::string>{"g-pub"}));
  EXPECT_EQ(ids_of(db().games_of(2, 10, 0, false)), (std::vector<std::string>{"g-pub2"}));
  const auto mine = db().games_of(2, 10, 0, true);
  ASSERT_EQ(ids_of(mine), (std::vector<std::string>{"g-pub2", "g-priv"}));
  EXPECT_FALSE(mine[0].is_private);
  EXPECT_TRUE(mine[1].is_private);
}

TEST_P(store_contract, games_of_breaks_ties_by_id_and_lists_a_game_once) {
  ASSERT_EQ(db().insert_game(make_game("g-a", 1000, {1})), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-c", 1000, {1})), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g-b", 1000, {1, 1})), status::ok);
  EXPECT_EQ(ids_of(db().games_of(1, 10, 0, true)), (std::vector<std::string>{"g-c", "g-b", "g-a"}));
  EXPECT_EQ(db().find_game("g-b")->players, (std::vector<std::int64_t>{1, 1}));
}

// --- Player statistics ------------------------------------------------------------------------

TEST_P(store_contract, stats_add_up_each_accounts_outcomes_per_mode_private_games_included) {
  EXPECT_TRUE(db().stats_of(1).empty());
  game_record a = make_game("a", 1000, {1, 2});
  a.outcomes = {make_outcome(1, game_result::won, 600, {{"wins_by_role", "doctor"}}),
                make_outcome(2, game_result::lost, 600)};
  game_record b = make_game("b", 2000, {1, 2});
  b.is_private = true;
  b.outcomes = {make_outcome(1, game_result::won, 400, {{"wins_by_role", "doctor"}}),
                make_outcome(2, game_result::abandoned, 100)};
  game_record c = make_game("c", 3000, {2, 1});
  c.outcomes = {make_outcome(2, game_result::won, 50, {{"wins_by_role", "mafia"}}),
                make_outcome(1, game_result::drawn, 70)};
  game_record d = make_game("d", 4000, {1});
  d.mode = "mystery";
  d.outcomes = {make_outcome(1, game_result::lost, 9, {{"endings", "gull_rock/the_teeth"}})};
  for (const auto& g : {a, b, c, d})
    ASSERT_EQ(db().insert_game(g), status::ok) << g.id;

  const auto one = db().stats_of(1);
  ASSERT_EQ(one.size(), 2u);  // by mode name
  EXPECT_EQ(one[0].mode, "mafia");
  EXPECT_EQ(one[0].played, 3);
  EXPECT_EQ(one[0].won, 2);
  EXPECT_EQ(one[0].lost, 0);
  EXPECT_EQ(one[0].drawn, 1);
  EXPECT_EQ(one[0].abandoned, 0);
  EXPECT_EQ(one[0].time_played_ms, 1070);
  EXPECT_EQ(one[0].tallies, (tally_map{{"wins_by_role", {{"doctor", 2}}}}));
  EXPECT_EQ(one[1].mode, "mystery");
  EXPECT_EQ(one[1].played, 1);
  EXPECT_EQ(one[1].lost, 1);
  EXPECT_EQ(one[1].won + one[1].drawn + one[1].abandoned, 0);
  EXPECT_EQ(one[1].time_played_ms, 9);
  EXPECT_EQ(one[1].tallies, (tally_map{{"endings", {{"gull_rock/the_teeth", 1}}}}));

  const auto two = db().stats_of(2);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].mode, "mafia");
  EXPECT_EQ(two[0].played, 3);
  EXPECT_EQ(two[0].won, 1);
  EXPECT_EQ(two[0].lost, 1);
  EXPECT_EQ(two[0].drawn, 0);
  EXPECT_EQ(two[0].abandoned, 1);
  EXPECT_EQ(two[0].time_played_ms, 750);
  EXPECT_EQ(two[0].tallies, (tally_map{{"wins_by_role", {{"mafia", 1}}}}));

  EXPECT_TRUE(db().stats_of(3).empty());
  // The record itself does not keep its outcomes.
  EXPECT_TRUE(db().find_game("a")->outcomes.empty());
}

TEST_P(store_contract, a_duplicate_record_adds_nothing_to_the_statistics) {
  game_record g = make_game("g", 1000, {1, 2});
  g.outcomes = {make_outcome(1, game_result::won, 100, {{"wins_by_role", "police"}}),
                make_outcome(2, game_result::lost, 100)};
  ASSERT_EQ(db().insert_game(g), status::ok);
  // The same record again (a retry of one that committed), and another under the same id.
  EXPECT_EQ(db().insert_game(g), status::conflict);
  game_record other = make_game("g", 5000, {3});
  other.outcomes = {make_outcome(3, game_result::won, 7, {{"wins_by_role", "mafia"}})};
  EXPECT_EQ(db().insert_game(other), status::conflict);
  const auto one = db().stats_of(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].played, 1);
  EXPECT_EQ(one[0].won, 1);
  EXPECT_EQ(one[0].time_played_ms, 100);
  EXPECT_EQ(one[0].tallies, (tally_map{{"wins_by_role", {{"police", 1}}}}));
  EXPECT_EQ(db().stats_of(2)[0].played, 1);
  EXPECT_TRUE(db().stats_of(3).empty());
}

TEST_P(store_contract, stats_written_in_a_rolled_back_transaction_are_gone) {
  game_record a = make_game("a", 1000, {1});
  a.outcomes = {make_outcome(1, game_result::won, 10, {{"t", "k"}})};
  ASSERT_EQ(db().insert_game(a), status::ok);
  game_record b = make_game("b", 2000, {1});
  b.outcomes = {make_outcome(1, game_result::lost, 20, {{"t", "k"}, {"t", "other"}})};
  db().begin();
  ASSERT_EQ(db().insert_game(b), status::ok);
  db().rollback();
  auto s = db().stats_of(1);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].played, 1);
  EXPECT_EQ(s[0].lost, 0);
  EXPECT_EQ(s[0].time_played_ms, 10);
  EXPECT_EQ(s[0].tallies, (tally_map{{"t", {{"k", 1}}}}));
  // Stored again, it counts.
  ASSERT_EQ(db().insert_game(b), status::ok);
  s = db().stats_of(1);
  EXPECT_EQ(s[0].played, 2);
  EXPECT_EQ(s[0].lost, 1);
  EXPECT_EQ(s[0].tallies, (tally_map{{"t", {{"k", 2}, {"other", 1}}}}));
}

TEST_P(store_contract, tally_keys_are_kept_as_given_and_a_repeated_key_counts_each_time) {
  const std::string odd = "hanok_night/\"새벽\" \\ {a,b} NULL";
  game_record g = make_game("g", 1000, {1, 2});
  g.mode = "test.counter";
  g.outcomes = {make_outcome(1, game_result::drawn, 0, {{"endings", odd}, {"endings", odd}}),
                make_outcome(2, game_result::drawn, 0, {{"t,\"x\"", ""}})};
  ASSERT_EQ(db().insert_game(g), status::ok);
  EXPECT_EQ(db().stats_of(1).at(0).tallies, (tally_map{{"endings", {{odd, 2}}}}));
  EXPECT_EQ(db().stats_of(2).at(0).tallies, (tally_map{{"t,\"x\"", {{"", 1}}}}));
  EXPECT_EQ(db().stats_of(2).at(0).mode, "test.counter");
  // A game without outcomes (none computed) adds nothing.
  ASSERT_EQ(db().insert_game(make_game("h", 2000, {1, 3})), status::ok);
  EXPECT_EQ(db().stats_of(1).at(0).played, 1);
  EXPECT_TRUE(db().stats_of(3).empty());
}

// --- Action log -------------------------------------------------------------------------------

TEST_P(store_contract, append_log_conflicts_on_duplicate_seq_and_writes_nothing) {
  ASSERT_EQ(db().append_log(make_entry("game-1", 1)), status::ok);
  log_entry dup = make_entry("game-1", 1);
  dup.payload_json = R"({"dup":true})";
  EXPECT_EQ(db().append_log(dup), status::conflict);
  const auto entries = db().read_log("game-1", 0, 10);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].payload_json, make_entry("game-1", 1).payload_json);
  // The same seq in another stream is fine.
  EXPECT_EQ(db().append_log(make_entry("game-2", 1)), status::ok);
}

TEST_P(store_contract, read_log_after_seq_with_limit_per_stream) {
  // Two streams, interleaved and out of seq order.
  for (std::int64_t seq : {3, 1, 5, 2, 4}) {
    ASSERT_EQ(db().append_log(make_entry("game-a", seq)), status::ok);
    ASSERT_EQ(db().append_log(make_entry("game-b", seq * 10)), status::ok);
  }
  EXPECT_EQ(seqs_of(db().read_log("game-a", 0, 100)), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(seqs_of(db().read_log("game-a", 2, 100)), (std::vector<std::int64_t>{3, 4, 5}));
  EXPECT_EQ(seqs_of(db().read_log("game-a", 2, 2)), (std::vector<std::int64_t>{3, 4}));
  EXPECT_TRUE(db().read_log("game-a", 5, 100).empty());
  EXPECT_TRUE(db().read_log("game-a", 0, 0).empty());
  EXPECT_EQ(seqs_of(db().read_log("game-b", 25, 100)), (std::vector<std::int64_t>{30, 40, 50}));
  EXPECT_TRUE(db().read_log("game-c", 0, 100).empty());
  // A stream whose name is a prefix of another does not see it.
  EXPECT_TRUE(db().read_log("game-", 0, 100).empty());

  const auto one = db().read_log("game-a", 3, 1);
  ASSERT_EQ(one.size(), 1u);
  const log_entry want = make_entry("game-a", 4);
  EXPECT_EQ(one[0].stream, want.stream);
  EXPECT_EQ(one[0].seq, want.seq);
  EXPECT_EQ(one[0].ts_ms, want.ts_ms);
  EXPECT_EQ(one[0].kind, want.kind);
  EXPECT_EQ(one[0].actor, want.actor);
  EXPECT_EQ(one[0].payload_json, want.payload_json);
}

// --- Event outbox -----------------------------------------------------------------------------

TEST_P(store_contract, events_get_increasing_ids_and_read_back_in_order) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    event_record e;
    e.topic = i % 2 == 0 ? "games" : "accounts";
    e.key = "k" + std::to_string(i);
    e.payload_json = R"({"i":)" + std::to_string(i) + "}";
    e.ts_ms = 100 + i;
    db().append_event(e);
    if (!ids.empty()) {
      EXPECT_GT(e.id, ids.back());
    }
    EXPECT_GT(e.id, 0);
    ids.push_back(e.id);
  }
  const auto all = db().read_events(0, 100);
  ASSERT_EQ(all.size(), 5u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, ids[i]);
    EXPECT_EQ(all[i].key, "k" + std::to_string(i));
    EXPECT_EQ(all[i].ts_ms, static_cast<std::int64_t>(100 + i));
  }
  EXPECT_EQ(all[1].topic, "accounts");
  EXPECT_EQ(all[1].payload_json, R"({"i":1})");

  const auto page = db().read_events(ids[1], 2);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, ids[2]);
  EXPECT_EQ(page[1].id, ids[3]);
  EXPECT_TRUE(db().read_events(ids[4], 100).empty());
  EXPECT_TRUE(db().read_events(0, 0).empty());
}

// The bulk path keeps the order it was given, with ids after every earlier event's, and escapes
// what COPY's text format would misread (tabs, newlines, backslashes).
TEST_P(store_contract, events_appended_in_bulk_keep_their_order_and_bytes) {
  event_record first;
  first.topic = "accounts";
  first.key = "a0";
  first.payload_json = "{}";
  db().append_event(first);
  std::vector<event_record> es;
  for (int i = 0; i < 300; ++i) {
    event_record e;
    e.topic = i % 3 == 0 ? "logs_move" : "accounts";
    e.key = "k\t" + std::to_string(i);
    e.payload_json = R"({"i":)" + std::to_string(i) + R"(,"s":"a\\b\n"})" + "\t\n\\";
    e.ts_ms = 1000 + i;
    es.push_back(e);
  }
  db().append_events(es);
  db().append_events({});
  const auto all = db().read_events(first.id, 1000);
  ASSERT_EQ(all.size(), es.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_GT(all[i].id, i == 0 ? first.id : all[i - 1].id);
    EXPECT_EQ(all[i].topic, es[i].topic);
    EXPECT_EQ(all[i].key, es[i].key);
    EXPECT_EQ(all[i].payload_json, es[i].payload_json);
    EXPECT_EQ(all[i].ts_ms, es[i].ts_ms);
  }
}

// --- Transactions -----------------------------------------------------------------------------

TEST_P(store_contract, commit_keeps_a_transaction) {
  db().begin();
  const std::int64_t a = add_account("dev-a");
  ASSERT_EQ(db().append_log(make_entry("s", 1)), status::ok);
  db().commit();
  EXPECT_TRUE(db().find_account(a).has_value());
  EXPECT_EQ(db().read_log("s", 0, 10).size(), 1u);
}

TEST_P(store_contract, rollback_undoes_a_whole_transaction) {
  const std::int64_t before = add_account("dev-before");
  db().begin();
  add_account("dev-a", "a@example.com");
  ASSERT_EQ(db().create_session(make_session("s", before, "h", 9000)), status::ok);
  ASSERT_EQ(db().insert_game(make_game("g", 1000, {before})), status::ok);
  ASSERT_EQ(db().append_log(make_entry("g", 1)), status::ok);
  event_record e;
  db().append_event(e);
  ASSERT_EQ(db().set_nickname(before, "B", "b"), status::ok);
  db().savepoint();
  add_account("dev-b");
  db().rollback();

  EXPECT_FALSE(db().find_account_by_device("dev-a").has_value());
  EXPECT_FALSE(db().find_account_by_device("dev-b").has_value());
  EXPECT_FALSE(db().find_session("s").has_value());
  EXPECT_FALSE(db().find_game("g").has_value());
  EXPECT_TRUE(db().games_of(before, 10, 0, true).empty());
  EXPECT_TRUE(db().read_log("g", 0, 10).empty());
  EXPECT_TRUE(db().read_events(0, 10).empty());
  EXPECT_FALSE(db().find_account_by_nickname_key("b").has_value());
  EXPECT_EQ(db().find_account(before)->nickname, "");

  // Unique values freed by the rollback can be used again, and new writes work.
  EXPECT_GT(add_account("dev-a", "a@example.com"), before);
  EXPECT_EQ(db().insert_game(make_game("g", 1000, {before})), status::ok);
}

TEST_P(store_contract, rollback_to_savepoint_undoes_only_the_inner_writes) {
  db().begin();
  const std::int64_t a = add_account("dev-a");
  db().savepoint();
  add_account("dev-b");
  ASSERT_EQ(db().append_log(make_entry("s", 1)), status::ok);
  ASSERT_EQ(db().set_nickname(a, "A", "a"), status::ok);
  db().rollback_to();
  db().release();
  // Writes after the released savepoint belong to the transaction again.
  const std::int64_t c = add_account("dev-c");
  db().commit();

  EXPECT_TRUE(db().find_account(a).has_value());
  EXPECT_TRUE(db().find_account(c).has_value());
  EXPECT_FALSE(db().find_account_by_device("dev-b").has_value());
  EXPECT_TRUE(db().read_log("s", 0, 10).empty());
  EXPECT_EQ(db().find_account(a)->nickname_key, "");
  EXPECT_FALSE(db().find_account_by_nickname_key("a").has_value());
}

TEST_P(store_contract, released_savepoint_keeps_its_writes) {
  db().begin();
  db().savepoint();
  const std::int64_t a = add_account("dev-a");
  db().release();
  db().savepoint();
  add_account("dev-b");
  db().rollback_to();
  db().release();
  db().commit();
  EXPECT_TRUE(db().find_account(a).has_value());
  EXPECT_FALSE(db().find_account_by_device("dev-b").has_value());
}

TEST_P(store_contract, nested_savepoints_roll_back_innermost_first) {
  db().begin();
  db().savepoint();
  add_account("dev-outer");
  db().savepoint();
  add_account("dev-inner");
  db().rollback_to();  // the inner one
  db().release();
  db().release();
  db().commit();
  EXPECT_TRUE(db().find_account_by_device("dev-outer").has_value());
  EXPECT_FALSE(db().find_account_by_device("dev-inner").has_value());
}

TEST_P(store_contract, rollback_to_keeps_the_savepoint_open) {
  db().begin();
  db().savepoint();
  add_account("dev-1");
  db().rollback_to();
  add_account("dev-2");
  db().rollback_to();  // the same savepoint, again
  add_account("dev-3");
  db().release();
  db().commit();
  EXPECT_FALSE(db().find_account_by_device("dev-1").has_value());
  EXPECT_FALSE(db().find_account_by_device("dev-2").has_value());
  EXPECT_TRUE(db().find_account_by_device("dev-3").has_value());
}

TEST_P(store_contract, conflict_inside_a_transaction_leaves_it_usable) {
  add_account("dev-a");
  db().begin();
  const std::int64_t b = add_account("dev-b");
  account dup = make_account("dev-a");
  EXPECT_EQ(db().create_account(dup), status::conflict);
  EXPECT_EQ(db().append_log(make_entry("s", 1)), status::ok);
  EXPECT_EQ(db().append_log(make_entry("s", 1)), status::conflict);
  db().commit();
  EXPECT_TRUE(db().find_account(b).has_value());
  EXPECT_EQ(db().read_log("s", 0, 10).size(), 1u);
}

TEST_P(store_contract, savepoint_outside_a_transaction_starts_one) {
  db().savepoint();
  add_account("dev-1");
  db().rollback_to();
  add_account("dev-2");
  db().release();  // the outermost savepoint: commits
  EXPECT_FALSE(db().find_account_by_device("dev-1").has_value());
  EXPECT_TRUE(db().find_account_by_device("dev-2").has_value());
  // No transaction is left open.
  db().begin();
  db().commit();
}

TEST_P(store_contract, misuse_of_transactions_throws_store_error) {
  EXPECT_THROW(db().commit(), store_error);
  EXPECT_THROW(db().release(), store_error);
  EXPECT_THROW(db().rollback_to(), store_error);
  EXPECT_NO_THROW(db().rollback());  // nothing to roll back: a no-op

  db().begin();
  EXPECT_THROW(db().begin(), store_error);
  EXPECT_THROW(db().release(), store_error);
  const std::int64_t a = add_account("dev-a");
  db().commit();  // the failed calls did not end the transaction
  EXPECT_TRUE(db().find_account(a).has_value());
  EXPECT_TRUE(db().ping());
}

std::string param_name(const ::testing::TestParamInfo<kind>& p) {
  return kind_name(p.param);
}

// --- Traces ---------------------------------------------------------------------------------

trace_record make_trace(const std::string& area, trace_kind kind, std::int64_t created_ms,
                        const std::string& payload = R"({"o_type":1})") {
  trace_record t;
  t.area = area;
  t.kind = kind;
  t.account_id = 7;
  t.u_uuid = "user-" + std::to_string(created_ms);
  t.payload_json = payload;
  t.created_ms = created_ms;
  return t;
}

trace_query latest(const std::string& area, trace_kind kind, int limit) {
  trace_query q;
  q.area = area;
  q.kind = kind;
  q.limit = limit;
  return q;
}

std::vector<std::int64_t> trace_ids(const std::vector<trace_record>& ts) {
  std::vector<std::int64_t> ids;
  for (const auto& t : ts)
    ids.push_back(t.id);
  return ids;
}

TEST_P(store_contract, insert_trace_assigns_increasing_ids_and_round_trips) {
  trace_record a = make_trace("lvl-1", trace_kind::message, 1000, R"({"part1":"hi"})");
  a.has_pos = true;
  a.x = 1.5;
  a.y = -2;
  a.z = 3.25;
  db().insert_trace(a);
  trace_record b = make_trace("lvl-1", trace_kind::object, 1001);
  db().insert_trace(b);
  EXPECT_GT(a.id, 0);
  EXPECT_GT(b.id, a.id);
  auto found = db().find_trace(a.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->area, "lvl-1");
  EXPECT_EQ(found->kind, trace_kind::message);
  EXPECT_EQ(found->account_id, 7);
  EXPECT_EQ(found->u_uuid, "user-1000");
  EXPECT_EQ(found->payload_json, R"({"part1":"hi"})");
  EXPECT_TRUE(found->has_pos);
  EXPECT_DOUBLE_EQ(found->x, 1.5);
  EXPECT_DOUBLE_EQ(found->y, -2);
  EXPECT_DOUBLE_EQ(found->z, 3.25);
  EXPECT_EQ(found->created_ms, 1000);
  EXPECT_EQ(found->rating, 0);
  EXPECT_EQ(found->reports, 0);
  EXPECT_FALSE(found->hidden);
  EXPECT_FALSE(db().find_trace(b.id)->has_pos);
  EXPECT_FALSE(db().find_trace(b.id + 100));
}

TEST_P(store_contract, insert_traces_stores_each_in_order) {
  std::vector<trace_record> ts;
  for (int i = 0; i < 5; ++i) {
    ts.push_back(make_trace(i % 2 == 0 ? "lvl-1" : "lvl-2",
                            i % 3 == 0   ? trace_kind::object
                            : i % 3 == 1 ? trace_kind::message
                                         : trace_kind::phantom,
                            2000 + i, R"({"n":)" + std::to_string(i) + R"(,"s":"a\\b \"q\" 한"})"));
    ts.back().has_pos = i == 3;
    ts.back().x = i;
    ts.back().rating = 9;
  }
  db().insert_traces(ts);
  for (std::size_t i = 0; i < ts.size(); ++i) {
    SCOPED_TRACE(i);
    if (i > 0) {
      EXPECT_GT(ts[i].id, ts[i - 1].id);
    }
    EXPECT_EQ(ts[i].rating, 0);
    auto found = db().find_trace(ts[i].id);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->area, ts[i].area);
    EXPECT_EQ(found->kind, ts[i].kind);
    EXPECT_EQ(found->created_ms, ts[i].created_ms);
    EXPECT_EQ(found->payload_json, ts[i].payload_json);
    EXPECT_EQ(found->has_pos, i == 3);
    if (found->has_pos) {
      EXPECT_DOUBLE_EQ(found->x, 3);
    }
  }
  std::vector<trace_record> none;
  db().insert_traces(none);
  trace_record after = make_trace("lvl-1", trace_kind::object, 3000);
  db().insert_trace(after);
  EXPECT_GT(after.id, ts.back().id);
}

TEST_P(store_contract, list_traces_is_newest_first_per_area_and_kind_with_paging) {
  std::vector<std::int64_t> objects;
  for (int i = 0; i < 5; ++i) {
    trace_record t = make_trace("a", trace_kind::object, 100 + i);
    db().insert_trace(t);
    objects.push_back(t.id);
    trace_record other = make_trace("b", trace_kind::object, 100 + i);
    db().insert_trace(other);
    trace_record msg = make_trace("a", trace_kind::message, 100 + i);
    db().insert_trace(msg);
  }
  auto page1 = db().list_traces(latest("a", trace_kind::object, 3));
  EXPECT_EQ(trace_ids(page1), (std::vector<std::int64_t>{objects[4], objects[3], objects[2]}));
  trace_query q = latest("a", trace_kind::object, 3);
  q.before_id = page1.back().id;
  EXPECT_EQ(trace_ids(db().list_traces(q)), (std::vector<std::int64_t>{objects[1], objects[0]}));
  q = latest("a", trace_kind::object, 10);
  q.created_after = 103;
  EXPECT_EQ(trace_ids(db().list_traces(q)), (std::vector<std::int64_t>{objects[4], objects[3]}));
  EXPECT_TRUE(db().list_traces(latest("a", trace_kind::phantom, 10)).empty());
  EXPECT_TRUE(db().list_traces(latest("a", trace_kind::object, 0)).empty());
  EXPECT_TRUE(db().list_traces(latest("c", trace_kind::object, 10)).empty());
}

TEST_P(store_contract, list_traces_near_keeps_those_within_the_radius) {
  auto put = [&](double x, double y, double z) {
    trace_record t = make_trace("a", trace_kind::object, 1);
    t.has_pos = true;
    t.x = x;
    t.y = y;
    t.z = z;
    db().insert_trace(t);
    return t.id;
  };
  const auto at_origin = put(0, 0, 0);
  const auto inside = put(3, 4, 0);  // distance 5
  put(3, 4, 0.1);                    // just outside 5
  put(100, 0, 0);
  trace_record nowhere = make_trace("a", trace_kind::object, 1);
  db().insert_trace(nowhere);
  trace_query q = latest("a", trace_kind::object, 10);
  q.near = true;
  q.radius = 5;
  EXPECT_EQ(trace_ids(db().list_traces(q)), (std::vector<std::int64_t>{inside, at_origin}));
  q.x = 100;
  q.radius = 1;
  EXPECT_EQ(db().list_traces(q).size(), 1u);
}

TEST_P(store_contract, appraise_replaces_an_accounts_vote) {
  trace_record t = make_trace("a", trace_kind::message, 1);
  db().insert_trace(t);
  EXPECT_EQ(db().appraise_trace(t.id, 1, 1), status::ok);
  EXPECT_EQ(db().appraise_trace(t.id, 2, 1), status::ok);
  EXPECT_EQ(db().appraise_trace(t.id, 3, -1), status::ok);
  EXPECT_EQ(db().find_trace(t.id)->rating, 1);
  EXPECT_EQ(db().find_trace(t.id)->votes, 3);
  EXPECT_EQ(db().appraise_trace(t.id, 1, -1), status::ok);  // changes its mind
  EXPECT_EQ(db().find_trace(t.id)->rating, -1);
  EXPECT_EQ(db().find_trace(t.id)->votes, 3);
  EXPECT_EQ(db().appraise_trace(t.id + 1, 1, 1), status::not_found);
}

TEST_P(store_contract, reports_count_once_per_account_and_hide_at_the_threshold) {
  trace_record t = make_trace("a", trace_kind::message, 1);
  db().insert_trace(t);
  EXPECT_EQ(db().report_trace({t.id, 1, "10.0.0.1", true}, 2), status::ok);
  EXPECT_EQ(db().report_trace({t.id, 1, "10.0.0.9", true}, 2), status::conflict);
  EXPECT_EQ(db().find_trace(t.id)->reports, 1);
  EXPECT_FALSE(db().find_trace(t.id)->hidden);
  EXPECT_EQ(db().list_traces(latest("a", trace_kind::message, 10)).size(), 1u);
  // Another account from the same source, and one without weight: counted, but hiding nothing.
  EXPECT_EQ(db().report_trace({t.id, 2, "10.0.0.1", true}, 2), status::ok);
  EXPECT_EQ(db().report_trace({t.id, 3, "10.0.0.3", false}, 2), status::ok);
  EXPECT_EQ(db().find_trace(t.id)->reports, 3);
  EXPECT_FALSE(db().find_trace(t.id)->hidden);
  // A second source with weight hides it.
  EXPECT_EQ(db().report_trace({t.id, 4, "10.0.0.4", true}, 2), status::ok);
  EXPECT_TRUE(db().find_trace(t.id)->hidden);
  EXPECT_TRUE(db().list_traces(latest("a", trace_kind::message, 10)).empty());
  EXPECT_EQ(db().report_trace({t.id + 1, 1, "10.0.0.1", true}, 2), status::not_found);
}

TEST_P(store_contract, trim_removes_old_traces_and_keeps_the_newest_per_kind) {
  std::vector<std::int64_t> a_objects;
  for (int i = 0; i < 6; ++i) {
    trace_record t = make_trace("a", trace_kind::object, 100 + i);
    db().insert_trace(t);
    a_objects.push_back(t.id);
  }
  trace_record old_msg = make_trace("a", trace_kind::message, 50);
  db().insert_trace(old_msg);
  ASSERT_EQ(db().appraise_trace(old_msg.id, 1, 1), status::ok);
  trace_record b_obj = make_trace("b", trace_kind::object, 200);
  db().insert_trace(b_obj);
  // Age: the message (50) goes; count: area a keeps its 3 newest objects.
  EXPECT_EQ(db().trim_traces(100, 3), 4);
  EXPECT_FALSE(db().find_trace(old_msg.id));
  EXPECT_EQ(trace_ids(db().list_traces(latest("a", trace_kind::object, 10))),
            (std::vector<std::int64_t>{a_objects[5], a_objects[4], a_objects[3]}));
  EXPECT_TRUE(db().find_trace(b_obj.id));
  EXPECT_EQ(db().trim_traces(0, 0), 0);
  // Ids are never reused.
  trace_record later = make_trace("a", trace_kind::object, 300);
  db().insert_trace(later);
  EXPECT_GT(later.id, b_obj.id);
}

TEST_P(store_contract, rolled_back_traces_are_gone) {
  db().begin();
  trace_record t = make_trace("a", trace_kind::object, 1);
  db().insert_trace(t);
  db().rollback();
  EXPECT_FALSE(db().find_trace(t.id));
  EXPECT_TRUE(db().list_traces(latest("a", trace_kind::object, 10)).empty());
}

TEST_P(store_contract, append_logs_writes_many_rows_and_skips_existing_ones) {
  ASSERT_EQ(db().append_log(make_entry("s", 5)), status::ok);
  std::vector<log_entry> many;
  for (std::int64_t seq = 1; seq <= 150; ++seq)  // more than one multi-row chunk, and a rest
    many.push_back(make_entry("s", seq));
  many.push_back(make_entry("other", 1));
  // Quotes, backslashes, braces and commas survive (array literals in PostgreSQL).
  log_entry odd = make_entry("odd \"st,ream{}\\", 1);
  odd.payload_json = R"({"say":"a \"quoted\" \\ back, {brace}"})";
  odd.kind = "k\"i,nd";
  many.push_back(odd);
  // SQLite's bulk path drops a duplicate later, at its merge (see sqlite_backend::append_logs),
  // so it counts what it took; the others count only what is new. Readers never see the
  // difference: no (stream, seq) twice, the first stored kept.
  const bool deferred = db().name() == "sqlite";
  EXPECT_EQ(db().append_logs(many), deferred ? 152 : 151);  // seq 5 was there
  EXPECT_EQ(db().append_logs(many), deferred ? 152 : 0);    // all there: a retry changes nothing
  EXPECT_EQ(db().append_logs({}), 0);
  auto all = db().read_log("s", 0, 1000);
  ASSERT_EQ(all.size(), 150u);
  EXPECT_EQ(all[4].payload_json, make_entry("s", 5).payload_json);
  EXPECT_EQ(all[149].seq, 150);
  EXPECT_EQ(all[149].kind, make_entry("s", 150).kind);
  EXPECT_EQ(all[149].actor, make_entry("s", 150).actor);
  EXPECT_EQ(all[149].ts_ms, make_entry("s", 150).ts_ms);
  auto back = db().read_log(odd.stream, 0, 10);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].payload_json, odd.payload_json);
  EXPECT_EQ(back[0].kind, odd.kind);
  EXPECT_EQ(db().read_log("other", 0, 10).size(), 1u);
}

// Inside the worker's transaction a batch that holds an existing row (a retry of a batch whose
// commit answer was lost) must skip it without spoiling the transaction's other writes; tabs,
// newlines, carriage returns and backslashes survive (COPY's text format in PostgreSQL).
TEST_P(store_contract, append_logs_in_a_transaction_skips_existing_rows_and_keeps_the_rest) {
  ASSERT_EQ(db().append_log(make_entry("t", 2)), status::ok);
  db().begin();
  ASSERT_EQ(db().append_log(make_entry("before", 1)), status::ok);
  std::vector<log_entry> batch;
  for (std::int64_t seq = 1; seq <= 3; ++seq)
    batch.push_back(make_entry("t", seq));
  batch[2].payload_json = "{\"say\":\"tab\there\\nnewline\ncr\r back\\\\slash\"}";
  EXPECT_EQ(db().append_logs(batch), db().name() == "sqlite" ? 3 : 2);  // seq 2 was there
  ASSERT_EQ(db().append_log(make_entry("after", 1)), status::ok);
  db().commit();
  auto t = db().read_log("t", 0, 10);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[2].payload_json, batch[2].payload_json);
  EXPECT_EQ(db().read_log("before", 0, 10).size(), 1u);
  EXPECT_EQ(db().read_log("after", 0, 10).size(), 1u);
  // A batch of new rows only, in a transaction that is rolled back, leaves nothing.
  db().begin();
  EXPECT_EQ(db().append_logs({make_entry("gone", 1), make_entry("gone", 2)}), 2);
  db().rollback();
  EXPECT_TRUE(db().read_log("gone", 0, 10).empty());
}

TEST_P(store_contract, admin_flag_is_off_until_granted_and_can_be_taken_back) {
  account a = make_account("dev-admin");
  a.is_admin = true;  // ignored: accounts start without the flag
  ASSERT_EQ(db().create_account(a), status::ok);
  EXPECT_FALSE(db().find_account(a.id)->is_admin);
  EXPECT_EQ(db().set_admin(a.id, true), status::ok);
  EXPECT_TRUE(db().find_account(a.id)->is_admin);
  EXPECT_TRUE(db().find_account_by_device("dev-admin")->is_admin);
  EXPECT_EQ(db().set_admin(a.id, true), status::ok);
  EXPECT_EQ(db().set_admin(a.id, false), status::ok);
  EXPECT_FALSE(db().find_account(a.id)->is_admin);
  EXPECT_EQ(db().set_admin(a.id + 1, true), status::not_found);
}

TEST_P(store_contract, audit_log_is_newest_first_with_paging) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    audit_entry e{0,
                  1000 + i,
                  i == 0 ? 0 : 7,
                  "trace.delete",
                  "trace:" + std::to_string(i),
                  R"({"area":"a"})"};
    db().append_audit(e);
    EXPECT_GT(e.id, ids.empty() ? 0 : ids.back());
    ids.push_back(e.id);
  }
  auto page = db().read_audit(0, 3);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].id, ids[3]);
  EXPECT_EQ(page[0].target, "trace:3");
  EXPECT_EQ(page[0].actor, 7);
  EXPECT_EQ(page[0].ts_ms, 1003);
  EXPECT_EQ(page[0].detail_json, R"({"area":"a"})");
  auto rest = db().read_audit(page.back().id, 10);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, ids[0]);
  EXPECT_EQ(rest[0].actor, 0);
  EXPECT_TRUE(db().read_audit(0, 0).empty());
}

TEST_P(store_contract, moderation_queue_lists_reported_traces_and_restore_or_delete_them) {
  trace_record quiet = make_trace("a", trace_kind::object, 1);
  trace_record reported = make_trace("a", trace_kind::message, 2);
  trace_record hidden = make_trace("b", trace_kind::phantom, 3);
  for (auto* t : {&quiet, &reported, &hidden})
    db().insert_trace(*t);
  ASSERT_EQ(db().appraise_trace(hidden.id, 5, 1), status::ok);
  ASSERT_EQ(db().report_trace({reported.id, 1, "10.0.0.1", true}, 2), status::ok);
  ASSERT_EQ(db().report_trace({hidden.id, 2, "10.0.0.2", true}, 1), status::ok);
  ASSERT_EQ(db().report_trace({hidden.id, 1, "10.0.0.1", false}, 1), status::ok);
  ASSERT_TRUE(db().find_trace(hidden.id)->hidden);

  moderation_query all;
  all.limit = 10;
  EXPECT_EQ(trace_ids(db().reported_traces(all)),
            (std::vector<std::int64_t>{hidden.id, reported.id}));
  moderation_query only_hidden = all;
  only_hidden.hidden_only = true;
  EXPECT_EQ(trace_ids(db().reported_traces(only_hidden)), (std::vector<std::int64_t>{hidden.id}));
  moderation_query paged = all;
  paged.before_id = hidden.id;
  EXPECT_EQ(trace_ids(db().reported_traces(paged)), (std::vector<std::int64_t>{reported.id}));
  paged.limit = 0;
  EXPECT_TRUE(db().reported_traces(paged).empty());

  auto reports = db().reports_of(hidden.id);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].account_id, 1);
  EXPECT_EQ(reports[0].source, "10.0.0.1");
  EXPECT_FALSE(reports[0].weighty);
  EXPECT_EQ(reports[1].account_id, 2);
  EXPECT_TRUE(reports[1].weighty);

  // Restored: listed again, its reports forgotten, so an earlier reporter may report it anew.
  EXPECT_EQ(db().restore_trace(hidden.id), status::ok);
  auto back = db().find_trace(hidden.id);
  EXPECT_FALSE(back->hidden);
  EXPECT_EQ(back->reports, 0);
  EXPECT_EQ(back->rating, 1);
  EXPECT_TRUE(db().reports_of(hidden.id).empty());
  EXPECT_EQ(trace_ids(db().list_traces(latest("b", trace_kind::phantom, 10))),
            (std::vector<std::int64_t>{hidden.id}));
  EXPECT_EQ(trace_ids(db().reported_traces(all)), (std::vector<std::int64_t>{reported.id}));
  EXPECT_EQ(db().report_trace({hidden.id, 2, "10.0.0.2", true}, 1), status::ok);
  EXPECT_TRUE(db().find_trace(hidden.id)->hidden);

  // Deleted: gone with its appraisals and reports; a second delete finds nothing.
  EXPECT_EQ(db().delete_trace(hidden.id), status::ok);
  EXPECT_FALSE(db().find_trace(hidden.id));
  EXPECT_TRUE(db().reports_of(hidden.id).empty());
  EXPECT_EQ(db().delete_trace(hidden.id), status::not_found);
  EXPECT_EQ(db().restore_trace(hidden.id), status::not_found);
  EXPECT_EQ(trace_ids(db().reported_traces(all)), (std::vector<std::int64_t>{reported.id}));
}

INSTANTIATE_TEST_SUITE_P(backends, store_contract,
                         ::testing::Values(kind::memory, kind::sqlite, kind::postgres), param_name);

// PostgreSQL refuses text that is not UTF-8 (SQLite and the memory store keep the bytes): a
// refused trace in the middle of insert_traces (one pipeline) fails the call with the server's
// error, stores none of its traces, and leaves the connection usable, in a transaction or not.
TEST(pg_backend_traces, a_refused_trace_fails_insert_traces_whole_and_the_store_goes_on) {
  pg_options o;
  o.schema = testing::fresh_schema_name();
  auto store = pg_backend::open(testing::shared_test_url(MARATANG_SOURCE_DIR), o);
  store->migrate();
  auto db = [&]() -> backend& { return *store; };
  auto batch = [] {
    std::vector<trace_record> ts{make_trace("bad", trace_kind::object, 1),
                                 make_trace("bad", trace_kind::message, 2, "{\"m\":\"\xff\xfe\"}"),
                                 make_trace("bad", trace_kind::phantom, 3)};
    return ts;
  };
  // The refused trace among three, and among six.
  for (std::size_t n : {3u, 6u}) {
    SCOPED_TRACE(n);
    auto ts = batch();
    while (ts.size() < n)
      ts.push_back(
          make_trace("bad", trace_kind::object, 10 + static_cast<std::int64_t>(ts.size())));
    try {
      db().insert_traces(ts);
      ADD_FAILURE() << "a trace that is not UTF-8 was stored";
    } catch (const store_error& e) {
      EXPECT_NE(std::string(e.what()).find("insert_traces"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("22021"), std::string::npos) << e.what();
    }
    for (auto k : {trace_kind::object, trace_kind::message, trace_kind::phantom})
      EXPECT_TRUE(db().list_traces(latest("bad", k, 10)).empty());
  }
  trace_record ok = make_trace("good", trace_kind::object, 4);
  db().insert_trace(ok);
  EXPECT_TRUE(db().find_trace(ok.id));

  // In a transaction: the call fails, the transaction rolls back, the next one works.
  db().begin();
  auto ts = batch();
  EXPECT_THROW(db().insert_traces(ts), store_error);
  db().rollback();
  db().begin();
  std::vector<trace_record> good{make_trace("good", trace_kind::message, 5),
                                 make_trace("good", trace_kind::phantom, 6)};
  db().insert_traces(good);
  db().commit();
  EXPECT_EQ(db().list_traces(latest("good", trace_kind::message, 10)).size(), 1u);
  EXPECT_EQ(db().list_traces(latest("good", trace_kind::phantom, 10)).size(), 1u);
  for (auto k : {trace_kind::object, trace_kind::message, trace_kind::phantom})
    EXPECT_TRUE(db().list_traces(latest("bad", k, 10)).empty());
}

}  // namespace
}  // namespace maratang::store
