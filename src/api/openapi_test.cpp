#include "api/openapi.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "proto/messages.hpp"

namespace maratang::api {
namespace {

namespace json = boost::json;

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s)
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

TEST(openapi, every_endpoint_of_the_table_is_an_operation) {
  auto doc = json::parse(openapi_json());
  EXPECT_EQ(std::string_view(doc.at("openapi").as_string()).substr(0, 2), "3.");
  const auto& paths = doc.at("paths").as_object();
  std::size_t ops = 0;
  for (const auto& p : paths)
    ops += p.value().as_object().size();
  EXPECT_EQ(ops, proto::core_endpoints().size());
  for (const auto& e : proto::core_endpoints()) {
    auto* item = paths.if_contains(e.path);
    ASSERT_TRUE(item) << e.path;
    auto* op = item->as_object().if_contains(lower(e.method));
    ASSERT_TRUE(op) << e.method << " " << e.path;
    EXPECT_EQ(std::string_view(op->at("summary").as_string()), e.summary);
    EXPECT_TRUE(op->as_object().contains("responses"));
    EXPECT_EQ(op->as_object().contains("security"), e.needs_auth) << e.path;
    // Every {param} of the path is declared.
    std::string_view path = e.path;
    for (auto open = path.find('{'); open != std::string_view::npos;
         open = path.find('{', open + 1)) {
      auto name = path.substr(open + 1, path.find('}', open) - open - 1);
      bool declared = false;
      for (const auto& prm : op->at("parameters").as_array())
        declared |= prm.at("name").as_string() == name && prm.at("in") == "path";
      EXPECT_TRUE(declared) << name << " in " << e.path;
    }
  }
}

TEST(openapi, the_traces_bodies_have_nested_schemas) {
  auto doc = json::parse(openapi_json());
  const auto& schema =
      doc.at_pointer("/paths/~1add-object/post/requestBody/content/application~1json/schema");
  EXPECT_EQ(schema.at("required"), json::parse(R"(["phantom"])"));
  EXPECT_EQ(schema.at("properties").at("obj").at("required"),
            json::parse(R"(["u_uuid","o_type","o_pos","o_rot"])"));
  EXPECT_EQ(schema.at("properties").at("obj").at("properties").at("o_type").at("type"), "integer");
  EXPECT_EQ(schema.at("properties").at("phantom").at("properties").at("data").at("type"), "array");
  EXPECT_TRUE(doc.at_pointer("/paths/~1add-object/post/responses").as_object().contains("422"));
  EXPECT_TRUE(doc.at_pointer("/paths/~1get-objects/get/responses").as_object().contains("304"));
  // GET fields are query parameters.
  bool limit = false;
  for (const auto& p :
       doc.at_pointer("/paths/~1v1~1traces~1areas~1{area}~1objects/get/parameters").as_array())
    limit |= p.at("name") == "limit" && p.at("in") == "query";
  EXPECT_TRUE(limit);
}

}  // namespace
}  // namespace maratang::api
