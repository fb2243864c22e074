// Cryptographic building blocks for accounts and sessions, on libsodium. Any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace maratang::core {

// Must be called once before anything below (calls sodium_init). Thread-safe, idempotent.
void crypto_init();

// Argon2id password hashing (crypto_pwhash_str). opslimit/memlimit default to libsodium's
// INTERACTIVE values; tests pass the MIN values to stay fast.
struct pwhash_params {
  unsigned long long opslimit;
  std::size_t memlimit;
  static pwhash_params interactive();
  static pwhash_params minimal();
};
// Throws std::runtime_error only when the system is out of memory.
std::string hash_password(std::string_view password, const pwhash_params& params);
// Constant-time check of a password against a stored hash; false for a malformed hash.
bool verify_password(std::string_view stored_hash, std::string_view password);

// `n` random bytes, base64url-encoded without padding.
std::string random_token(std::size_t n);
// Hex of the SHA-256 (crypto_hash_sha256) of `data`: how refresh tokens are stored.
std::string sha256_hex(std::string_view data);

using signing_key = std::array<unsigned char, 32>;
signing_key random_signing_key();
// base64url <-> key; decode fails (nullopt-like: returns false) on a wrong length or alphabet.
std::string encode_key(const signing_key& key);
bool decode_key(std::string_view text, signing_key& out);

// The claims a session token carries.
struct token_claims {
  std::string session_id;
  std::int64_t account_id = 0;
  std::int64_t expires_ms = 0;
};

// Signs and verifies session tokens: "<base64url(payload)>.<base64url(HMAC-SHA-256)>", where the
// payload is compact JSON {"sid":..,"aid":..,"exp":..}. Verification is constant-time in the MAC.
class token_signer {
 public:
  explicit token_signer(const signing_key& key) : key_(key) {}
  std::string sign(const token_claims& claims) const;
  // errc::token_invalid for anything malformed or forged (bad MAC, bad base64, bad JSON, missing
  // claims); errc::token_expired when expires_ms <= now_ms. Never throws.
  result<token_claims> verify(std::string_view token, std::int64_t now_ms) const;

 private:
  signing_key key_;
};

}  // namespace maratang::core
