// The web client against the server's tables. Its words (web/public/i18n/en.json and ko.json):
// every error code the server declares (src/util/error.hpp, the "Error codes" table of
// docs/PROTOCOL.md) has a readable text in both languages, so a player never sees a raw code alone;
// both files hold the same keys; and every key the client's code asks for by name, t('...'),
// exists. Its messages: each one it sends or handles is declared (web/public/sdk/protocol.json).
// Reads files; starts no server.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "util/error.hpp"

namespace maratang::it {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kPublic = fs::path(MARATANG_SOURCE_DIR) / "web" / "public";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::object words(std::string_view lang) {
  return json::parse(read(kPublic / "i18n" / (std::string(lang) + ".json"))).as_object();
}

// Dotted keys of every string leaf.
void leaves(const json::object& o, const std::string& prefix, std::set<std::string>& out) {
  for (const auto& [k, v] : o) {
    const auto key = prefix.empty() ? std::string(k) : prefix + "." + std::string(k);
    if (v.is_object()) {
      leaves(v.as_object(), key, out);
    } else {
      EXPECT_TRUE(v.is_string() && !v.as_string().empty()) << key << " is empty or not text";
      out.insert(key);
    }
  }
}

TEST(web_i18n_test, every_server_error_code_reads_in_both_languages) {
  for (const char* lang : {"en", "ko"}) {
    const auto w = words(lang);
    ASSERT_TRUE(w.contains("errors")) << lang;
    const auto& errors = w.at("errors").as_object();
    for (int i = 0; i <= static_cast<int>(errc::internal); ++i) {
      const auto code = std::string(to_string(static_cast<errc>(i)));
      ASSERT_TRUE(errors.contains(code)) << lang << ".json has no text for error " << code;
      const auto text = std::string(errors.at(code).as_string());
      EXPECT_FALSE(text.empty()) << lang << " " << code;
      // Words, not the code again ("unavailable" may be a word; "not_found" is not).
      EXPECT_NE(text, code) << lang;
      if (code.find('_') != std::string::npos) {
        EXPECT_EQ(text.find(code), std::string::npos) << lang << " " << code << ": a raw code";
      }
    }
  }
  // The same codes appear in docs/PROTOCOL.md's table: the document and the client agree.
  const auto doc = read(fs::path(MARATANG_SOURCE_DIR) / "docs" / "PROTOCOL.md");
  const auto table = doc.substr(doc.find("## Error codes"));
  const std::regex row(R"(\n\| `([a-z_]+)` \|)");
  const auto en = words("en").at("errors").as_object();
  int rows = 0;
  for (std::sregex_iterator it(table.begin(), table.end(), row), end; it != end; ++it, ++rows) {
    EXPECT_TRUE(en.contains((*it)[1].str())) << (*it)[1].str();
  }
  EXPECT_EQ(rows, static_cast<int>(errc::internal) + 1);
}

TEST(web_i18n_test, both_languages_have_the_same_keys) {
  std::set<std::string> en, ko;
  leaves(words("en"), "", en);
  leaves(words("ko"), "", ko);
  for (const auto& k : en)
    EXPECT_TRUE(ko.contains(k)) << "ko.json lacks " << k;
  for (const auto& k : ko)
    EXPECT_TRUE(en.contains(k)) << "en.json lacks " << k;
}

TEST(web_i18n_test, every_key_the_client_names_exists) {
  std::set<std::string> en;
  leaves(words("en"), "", en);
  // t('a.b'); both keys of t(cond ? 'a.b' : 'a.c'); the keys of ['verb', 'a.b'] button tables.
  // (Keys built at run time, t('mafia.role.' + role), are covered by the tables above.)
  const std::regex patterns[] = {
      std::regex(R"(\bt\('([a-z_0-9.]+)')"),
      std::regex(R"(\bt\([^()]*\? '([a-z_0-9.]+)' : '([a-z_0-9.]+)')"),
      std::regex(R"(\['[a-z]+', '([a-z_0-9]+\.[a-z_0-9.]+)'\])"),
  };
  int found = 0;
  for (const auto& f : fs::recursive_directory_iterator(kPublic / "js")) {
    if (f.path().extension() != ".js") continue;
    const auto src = read(f.path());
    for (const auto& re : patterns) {
      for (std::sregex_iterator it(src.begin(), src.end(), re), end; it != end; ++it) {
        for (std::size_t g = 1; g < it->size(); ++g) {
          const auto key = (*it)[g].str();
          if (key.empty() || key.back() == '.') continue;
          ++found;
          EXPECT_TRUE(en.contains(key))
              << f.path().filename().string() << " names " << key << ", which en.json lacks";
        }
      }
    }
  }
  EXPECT_GT(found, 100);
}

}  // namespace
}  // namespace maratang::it

namespace maratang::it {
namespace {

// The client's message names come from the server's tables: every request it sends and every
// event it handles is in web/public/sdk/protocol.json (itself checked against the code by
// protocol_doc.json_file_matches_the_code), so a renamed or removed message fails here.
TEST(web_protocol_test, the_client_names_only_messages_the_server_declares) {
  const auto doc = json::parse(read(kPublic / "sdk" / "protocol.json")).as_object();
  std::set<std::string> requests, events;
  for (const auto& m : doc.at("messages").as_array()) {
    const auto& o = m.as_object();
    (o.at("dir").as_string() == "request" ? requests : events)
        .insert(std::string(o.at("type").as_string()));
  }
  ASSERT_TRUE(requests.contains("mafia.vote"));
  ASSERT_TRUE(events.contains("mystery.line"));
  enum class kind { request, event, either };
  struct use {
    std::regex re;
    kind k;
  };
  const use uses[] = {
      {std::regex(R"((?:request|act|send)\('([a-z]+(?:\.[a-z_]+)*)')"), kind::request},
      {std::regex(R"(\bcase '([a-z]+\.[a-z_.]+)':)"), kind::event},
      {std::regex(R"(=== '([a-z]+\.[a-z_]+)')"), kind::either},
      {std::regex(R"(\bon\('([a-z]+\.[a-z_]+)')"), kind::event},
      {std::regex(R"('(room\.(?:member|leader|can|game|removed)[a-z_]*)')"), kind::event},
  };
  int found = 0;
  for (const auto& dir : {kPublic / "js", kPublic / "sdk"}) {
    for (const auto& f : fs::recursive_directory_iterator(dir)) {
      if (f.path().extension() != ".js") continue;
      const auto src = read(f.path());
      for (const auto& u : uses) {
        for (std::sregex_iterator it(src.begin(), src.end(), u.re), end; it != end; ++it) {
          const auto type = (*it)[1].str();
          ++found;
          const bool declared = (u.k != kind::event && requests.contains(type)) ||
                                (u.k != kind::request && events.contains(type));
          EXPECT_TRUE(declared) << f.path().filename().string() << " uses " << type
                                << ", which protocol.json does not declare as such";
        }
      }
    }
  }
  EXPECT_GT(found, 40);
}

}  // namespace
}  // namespace maratang::it
