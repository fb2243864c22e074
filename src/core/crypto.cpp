#include "core/crypto.hpp"

#include <sodium.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace maratang::core {

namespace {

constexpr int b64_variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

// libsodium takes pointers; an empty string_view may hold a null one.
const char* data_or_empty(std::string_view s) {
  return s.empty() ? "" : s.data();
}

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(data_or_empty(s));
}

std::string b64_encode(const unsigned char* bin, std::size_t len) {
  if (len == 0) return {};
  std::string out(sodium_base64_ENCODED_LEN(len, b64_variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bin, len, b64_variant);
  out.resize(out.size() - 1);  // the encoded length counts the terminating NUL
  return out;
}

// Strict base64url without padding: the whole input must decode, and libsodium refuses non-zero
// trailing bits, so each byte string has exactly one accepted encoding.
bool b64_decode(std::string_view text, std::vector<unsigned char>& out) {
  out.assign(text.size() / 4 * 3 + 3, 0);
  std::size_t len = 0;
  if (sodium_base642bin(out.data(), out.size(), data_or_empty(text), text.size(), nullptr, &len,
                        nullptr, b64_variant) != 0) {
    out.clear();
    return false;
  }
  out.resize(len);
  return true;
}

using mac_bytes = std::array<unsigned char, crypto_auth_hmacsha256_BYTES>;

static_assert(std::tuple_size_v<signing_key> == crypto_auth_hmacsha256_KEYBYTES);

}  // namespace

void crypto_init() {
  // sodium_init is itself idempotent; the static makes the first call happen exactly once.
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium failed to initialise");
}

pwhash_params pwhash_params::interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

pwhash_params pwhash_params::minimal() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

std::string hash_password(std::string_view password, const pwhash_params& params) {
  char out[crypto_pwhash_STRBYTES];
  // Name the algorithm rather than rely on the library default.
  if (crypto_pwhash_str_alg(out, data_or_empty(password), password.size(), params.opslimit,
                            params.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("crypto_pwhash_str failed: out of memory (or invalid limits)");
  }
  return out;
}

bool verify_password(std::string_view stored_hash, std::string_view password) {
  // libsodium wants a NUL-terminated string; an embedded NUL or an overlong text is malformed.
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES ||
      stored_hash.find('\0') != std::string_view::npos) {
    return false;
  }
  const std::string hash(stored_hash);
  return crypto_pwhash_str_verify(hash.c_str(), data_or_empty(password), password.size()) == 0;
}

std::string random_token(std::size_t n) {
  std::vector<unsigned char> bytes(n);
  if (n != 0) randombytes_buf(bytes.data(), n);
  return b64_encode(bytes.data(), n);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, bytes_of(data), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

signing_key random_signing_key() {
  signing_key key;
  randombytes_buf(key.data(), key.size());
  return key;
}

std::string encode_key(const signing_key& key) {
  return b64_encode(key.data(), key.size());
}

bool decode_key(std::string_view text, signing_key& out) {
  std::vector<unsigned char> bytes;
  if (!b64_decode(text, bytes) || bytes.size() != out.size()) {
    sodium_memzero(bytes.data(), bytes.size());
    return false;
  }
  std::copy(bytes.begin(), bytes.end(), out.begin());
  sodium_memzero(bytes.data(), bytes.size());
  return true;
}

std::string token_signer::sign(const token_claims& claims) const {
  boost::json::object payload;
  payload["sid"] = claims.session_id;
  payload["aid"] = claims.account_id;
  payload["exp"] = claims.expires_ms;
  const std::string json = boost::json::serialize(payload);

  // The MAC covers the base64url text itself, so verify never decodes unauthenticated input.
  std::string token = b64_encode(bytes_of(json), json.size());
  mac_bytes mac;
  crypto_auth_hmacsha256(mac.data(), bytes_of(token), token.size(), key_.data());
  token += '.';
  token += b64_encode(mac.data(), mac.size());
  return token;
}

result<token_claims> token_signer::verify(std::string_view token, std::int64_t now_ms) const {
  try {
    // Split "<payload>.<mac>"; '.' is not in the base64url alphabet, so any second dot fails the
    // MAC decode below.
    const auto dot = token.find('.');
    if (dot == std::string_view::npos) return error{errc::token_invalid};
    const std::string_view payload_b64 = token.substr(0, dot);
    const std::string_view mac_b64 = token.substr(dot + 1);

    // Authenticate before parsing anything.
    std::vector<unsigned char> mac;
    if (!b64_decode(mac_b64, mac) || mac.size() != crypto_auth_hmacsha256_BYTES) {
      return error{errc::token_invalid};
    }
    if (crypto_auth_hmacsha256_verify(mac.data(), bytes_of(payload_b64), payload_b64.size(),
                                      key_.data()) != 0) {
      return error{errc::token_invalid};
    }

    // The payload is ours, but check its shape anyway: a key shared with a buggy signer must not
    // turn into a crash here.
    std::vector<unsigned char> json;
    if (!b64_decode(payload_b64, json)) return error{errc::token_invalid};
    boost::system::error_code ec;
    const boost::json::value doc = boost::json::parse(
        std::string_view(reinterpret_cast<const char*>(json.data()), json.size()), ec);
    if (ec || !doc.is_object()) return error{errc::token_invalid};
    const boost::json::object& obj = doc.get_object();

    const auto* sid = obj.if_contains("sid");
    const auto* aid = obj.if_contains("aid");
    const auto* exp = obj.if_contains("exp");
    if (!sid || !sid->is_string() || sid->get_string().empty()) return error{errc::token_invalid};
    if (!aid || !aid->is_int64() || aid->get_int64() <= 0) return error{errc::token_invalid};
    if (!exp || !exp->is_int64()) return error{errc::token_invalid};

    token_claims claims;
    claims.session_id = std::string(sid->get_string());
    claims.account_id = aid->get_int64();
    claims.expires_ms = exp->get_int64();
    if (claims.expires_ms <= now_ms) return error{errc::token_expired};
    return claims;
  } catch (...) {
    // Only allocation can throw above; the contract is still "never throws".
    return error{errc::token_invalid};
  }
}

}  // namespace maratang::core
