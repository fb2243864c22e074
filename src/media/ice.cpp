#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <string>

#include "media/sfu.hpp"

namespace maratang::media {

namespace {

std::string base64(const unsigned char* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

}  // namespace

boost::json::array ice_servers(const ice_options& o, std::int64_t member, std::int64_t now_s) {
  boost::json::array out;
  if (!o.stun_urls.empty()) {
    boost::json::array urls;
    for (const auto& u : o.stun_urls)
      urls.emplace_back(u);
    out.push_back(boost::json::object{{"urls", std::move(urls)}});
  }
  if (!o.turn_urls.empty() && !o.turn_secret.empty()) {
    // coturn's REST API scheme (use-auth-secret): the username says until when it is valid.
    const std::string user = std::to_string(now_s + o.turn_ttl_s) + ":" + std::to_string(member);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha1(), o.turn_secret.data(), static_cast<int>(o.turn_secret.size()),
         reinterpret_cast<const unsigned char*>(user.data()), user.size(), mac, &mac_len);
    boost::json::array urls;
    for (const auto& u : o.turn_urls)
      urls.emplace_back(u);
    out.push_back(boost::json::object{
        {"urls", std::move(urls)}, {"username", user}, {"credential", base64(mac, mac_len)}});
  }
  return out;
}

}  // namespace maratang::media
