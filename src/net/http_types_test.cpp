#include "net/http_types.hpp"

#include <gtest/gtest.h>

namespace maratang::net {
namespace {

http_request with_query(std::string q) {
  http_request r;
  r.query = std::move(q);
  return r;
}

TEST(http_types_test, query_values_and_keys_are_percent_decoded) {
  EXPECT_EQ(with_query("token=abc%2Bdef").query_param("token"), "abc+def");
  EXPECT_EQ(with_query("t%6Fken=x").query_param("token"), "x");
  EXPECT_EQ(with_query("mode=ma%66ia&x=1").query_param("mode"), "mafia");
  EXPECT_EQ(with_query("q=two+words").query_param("q"), "two words");
  EXPECT_EQ(with_query("name=%ED%95%9C").query_param("name"), "\xED\x95\x9C");
}

TEST(http_types_test, missing_and_empty_parameters_read_as_empty) {
  EXPECT_EQ(with_query("").query_param("token"), "");
  EXPECT_EQ(with_query("other=1").query_param("token"), "");
  EXPECT_EQ(with_query("token").query_param("token"), "");
  EXPECT_EQ(with_query("token=").query_param("token"), "");
  EXPECT_EQ(with_query("a=1&token=2&token=3").query_param("token"), "2");  // the first
}

}  // namespace
}  // namespace maratang::net
