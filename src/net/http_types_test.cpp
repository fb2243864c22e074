#include "net/http_types.hpp"

#include <gtest/gtest.h>

#include "net/listener.hpp"

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

TEST(client_address, a_trusted_proxy_is_replaced_by_the_nearest_untrusted_hop) {
  const std::vector<std::string> trusted{"127.0.0.1", "10.0.0.2"};
  EXPECT_EQ(client_address("127.0.0.1", "203.0.113.7", trusted), "203.0.113.7");
  // A client's own X-Forwarded-For is not believed: nginx appends what it saw, the last hop.
  EXPECT_EQ(client_address("127.0.0.1", "1.2.3.4, 203.0.113.7", trusted), "203.0.113.7");
  // Two trusted proxies in a row are skipped.
  EXPECT_EQ(client_address("127.0.0.1", "1.2.3.4, 203.0.113.7, 10.0.0.2", trusted), "203.0.113.7");
  EXPECT_EQ(client_address("127.0.0.1", " 2001:db8::1 ", trusted), "2001:db8::1");
}

TEST(client_address, an_untrusted_peer_or_a_bad_header_leaves_the_peer) {
  const std::vector<std::string> trusted{"127.0.0.1"};
  EXPECT_EQ(client_address("198.51.100.9", "203.0.113.7", trusted), "198.51.100.9");
  EXPECT_EQ(client_address("127.0.0.1", "", trusted), "127.0.0.1");
  EXPECT_EQ(client_address("127.0.0.1", "not-an-address", trusted), "127.0.0.1");
  EXPECT_EQ(client_address("127.0.0.1", "203.0.113.7, bogus", trusted), "127.0.0.1");
  EXPECT_EQ(client_address("127.0.0.1", "127.0.0.1", trusted), "127.0.0.1");
  EXPECT_EQ(client_address("127.0.0.1", "203.0.113.7", {}), "127.0.0.1");
}

}  // namespace
}  // namespace maratang::net
