#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "media/sfu.hpp"

namespace maratang::media {
namespace {

TEST(IceServers, turn_credentials_follow_coturns_use_auth_secret_scheme) {
  ice_options o;
  o.stun_urls = {"stun:127.0.0.1:3478"};
  o.turn_urls = {"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"};
  o.turn_secret = "north-wind";
  o.turn_ttl_s = 600;
  auto a = ice_servers(o, 42, 4000);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].at("urls").as_array().size(), 1u);
  const auto& turn = a[1].as_object();
  EXPECT_EQ(turn.at("urls").as_array().size(), 2u);
  // username "<expiry>:<member>", credential base64(HMAC-SHA1(secret, username)); the expected
  // value is `printf 4600:42 | openssl dgst -sha1 -hmac north-wind -binary | base64`.
  EXPECT_EQ(turn.at("username").as_string(), "4600:42");
  EXPECT_EQ(turn.at("credential").as_string(), "/TGLdygTI7O9ptaUPacviTcbbsQ=");
}

TEST(IceServers, no_turn_without_a_secret_and_nothing_when_unset) {
  ice_options o;
  o.turn_urls = {"turn:127.0.0.1:3478"};
  EXPECT_TRUE(ice_servers(o, 1, 0).empty());
  EXPECT_TRUE(ice_servers(ice_options{}, 1, 0).empty());
}

}  // namespace
}  // namespace maratang::media
