// The contract of mystery::casebook_store (modes/mystery/casebook_store.hpp) and of store::health
// (store/health.hpp), checked through the ports, as the casebook writer, the gateway and GET
// /ready use them, against every implementation (store/port_contract.hpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "modes/mystery/casebook_store.hpp"
#include "store/health.hpp"
#include "store/port_contract.hpp"
#include "store/records.hpp"

namespace maratang::store {
namespace {

using mystery::casebook_store;
using testing::call;
using testing::implementation_name;
using testing::implementations;

casebook_record casebook(const std::string& game_id, const std::string& title) {
  casebook_record c;
  c.game_id = game_id;
  c.title = title;
  c.language = "en";
  c.author = "template";
  c.markdown = "# " + title + "\n\nThe butler did it.\n\n* clue one\n* clue \"two\"\n";
  c.created_ms = 1'700'000'000'123;
  return c;
}

class casebook_store_contract : public testing::port_contract {
 protected:
  bool put(const casebook_record& c) { return call(casebooks(), &casebook_store::put_casebook, c); }
  std::optional<casebook_record> find(const std::string& game_id) {
    return call(casebooks(), &casebook_store::find_casebook, game_id);
  }
};

TEST_P(casebook_store_contract, put_then_find_reads_the_casebook_back) {
  EXPECT_FALSE(find("g1").has_value());
  casebook_record c = casebook("g1", "The Case of the Silent Bell");
  c.language = "ko";
  c.author = "llm";
  c.markdown = "# 조용한 종\n\n범인은 집사였다.\n";
  EXPECT_TRUE(put(c));
  auto found = find("g1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->game_id, "g1");
  EXPECT_EQ(found->title, c.title);
  EXPECT_EQ(found->language, "ko");
  EXPECT_EQ(found->author, "llm");
  EXPECT_EQ(found->markdown, c.markdown);
  EXPECT_EQ(found->created_ms, c.created_ms);
  EXPECT_FALSE(find("g2").has_value());
}

TEST_P(casebook_store_contract, a_second_put_replaces_the_games_casebook) {
  ASSERT_TRUE(put(casebook("g1", "First draft")));
  ASSERT_TRUE(put(casebook("g2", "Another game")));
  casebook_record rewrite = casebook("g1", "Rewritten");
  rewrite.author = "llm";
  rewrite.language = "ko";
  rewrite.markdown = "# Rewritten\n";
  rewrite.created_ms = 1'800'000'000'000;
  EXPECT_TRUE(put(rewrite));
  auto found = find("g1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->title, "Rewritten");
  EXPECT_EQ(found->author, "llm");
  EXPECT_EQ(found->language, "ko");
  EXPECT_EQ(found->markdown, "# Rewritten\n");
  EXPECT_EQ(found->created_ms, 1'800'000'000'000);
  // The other game's casebook is its own.
  auto other = find("g2");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->title, "Another game");
}

// --- Health -----------------------------------------------------------------------------------

class health_contract : public testing::port_contract {};

TEST_P(health_contract, ping_is_true_when_the_database_answers) {
  EXPECT_TRUE(call(health(), &store::health::ping));
  EXPECT_TRUE(call(health(), &store::health::ping));
}

TEST_P(health_contract, backend_name_names_the_implementation) {
  EXPECT_EQ(health().backend_name(), GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(impls, casebook_store_contract, ::testing::ValuesIn(implementations()),
                         implementation_name);
INSTANTIATE_TEST_SUITE_P(impls, health_contract, ::testing::ValuesIn(implementations()),
                         implementation_name);

}  // namespace
}  // namespace maratang::store
