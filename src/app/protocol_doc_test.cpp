#include "app/protocol_doc.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.hpp"

namespace maratang::app {
namespace {

// docs/PROTOCOL.md is generated from the message table; this keeps the two from drifting.
TEST(protocol_doc, file_matches_the_code) {
  std::ifstream in(std::filesystem::path(MARATANG_SOURCE_DIR) / "docs" / "PROTOCOL.md");
  ASSERT_TRUE(in) << "docs/PROTOCOL.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_TRUE(ss.str() == protocol_markdown())
      << "docs/PROTOCOL.md is out of date: regenerate it with\n"
         "  build/release/maratang protocol > docs/PROTOCOL.md";
}

// web/public/sdk/protocol.json is the same tables for clients; the web client's own test
// (tests/integration/web_i18n_test.cpp) checks that it names only messages listed there.
TEST(protocol_doc, json_file_matches_the_code) {
  std::ifstream in(std::filesystem::path(MARATANG_SOURCE_DIR) / "web" / "public" / "sdk" /
                   "protocol.json");
  ASSERT_TRUE(in) << "web/public/sdk/protocol.json is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_TRUE(ss.str() == protocol_json())
      << "web/public/sdk/protocol.json is out of date: regenerate it with\n"
         "  build/release/maratang protocol --json > web/public/sdk/protocol.json";
  auto doc = boost::json::parse(ss.str()).as_object();
  EXPECT_EQ(doc.at("version").as_int64(), 1);
  EXPECT_GT(doc.at("messages").as_array().size(), 30u);
}

// Issue 14, item 5: every mode's messages have a section, the Mystery ones included.
TEST(protocol_doc, has_a_section_for_every_modes_messages) {
  auto md = protocol_markdown();
  EXPECT_NE(md.find("### Mode `mafia`"), std::string::npos);
  EXPECT_NE(md.find("### Mode `mystery` (1–6 players)"), std::string::npos);
  for (const char* m :
       {"#### `mystery.act`", "#### `mystery.do`", "- `mystery.line`", "- `mystery.events`",
        "- `mystery.state`", "- `mystery.turn`", "- `mystery.started`", "- `mystery.rejected`",
        "- `mystery.ended`", "- `mystery.casebook`"})
    EXPECT_NE(md.find(m), std::string::npos) << m;
}

TEST(protocol_doc, lists_every_error_code) {
  auto md = protocol_markdown();
  for (int i = 0; i <= static_cast<int>(errc::internal); ++i) {
    auto name = std::string("`") + std::string(to_string(static_cast<errc>(i))) + "`";
    EXPECT_NE(md.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace maratang::app
