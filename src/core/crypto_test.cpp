#include "core/crypto.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

namespace maratang::core {
namespace {

// The error a failed result holds; a test failure (and errc::internal) if it holds a value.
template <class T>
error error_in(const result<T>& r) {
  if (r.has_error()) return r.error();
  ADD_FAILURE() << "expected an error, got a value";
  return error{errc::internal};
}

constexpr std::int64_t now = 1'700'000'000'000;

std::string b64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);
  return out;
}

std::string unb64(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return "<bad base64>";
  }
  out.resize(len);
  return out;
}

// Builds a token by hand with a correctly keyed MAC, to reach the claim checks behind the MAC.
std::string forge(std::string_view json, const signing_key& key) {
  std::string token = b64(json);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                         key.data());
  token += '.';
  token += b64(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
  return token;
}

signing_key fixed_key(unsigned char fill) {
  signing_key key;
  key.fill(fill);
  return key;
}

// Replaces the character at `pos` with a different base64url character.
std::string flip(std::string s, std::size_t pos) {
  s[pos] = s[pos] == 'A' ? 'B' : 'A';
  return s;
}

class CryptoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto_init(); }

  static errc error_of(const result<token_claims>& r) { return error_in(r).code; }

  signing_key key_ = fixed_key(0x42);
  token_signer signer_{key_};
  token_claims claims_{"sess-1", 42, now + 60'000};
};

TEST_F(CryptoTest, InitIsIdempotent) {
  crypto_init();
  crypto_init();
}

TEST_F(CryptoTest, PwhashParamsMatchLibsodium) {
  EXPECT_EQ(pwhash_params::interactive().opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  EXPECT_EQ(pwhash_params::interactive().memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
  EXPECT_EQ(pwhash_params::minimal().opslimit, crypto_pwhash_OPSLIMIT_MIN);
  EXPECT_EQ(pwhash_params::minimal().memlimit, crypto_pwhash_MEMLIMIT_MIN);
}

TEST_F(CryptoTest, PasswordHashRoundTrip) {
  const std::string hash = hash_password("correct horse battery", pwhash_params::minimal());
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  EXPECT_TRUE(verify_password(hash, "correct horse battery"));
}

TEST_F(CryptoTest, WrongPasswordRejected) {
  const std::string hash = hash_password("correct horse battery", pwhash_params::minimal());
  EXPECT_FALSE(verify_password(hash, "correct horse batter"));
  EXPECT_FALSE(verify_password(hash, "Correct horse battery"));
  EXPECT_FALSE(verify_password(hash, ""));
}

TEST_F(CryptoTest, HashesAreSalted) {
  const std::string a = hash_password("pw", pwhash_params::minimal());
  const std::string b = hash_password("pw", pwhash_params::minimal());
  EXPECT_NE(a, b);
  EXPECT_TRUE(verify_password(a, "pw"));
  EXPECT_TRUE(verify_password(b, "pw"));
}

TEST_F(CryptoTest, PasswordBytesAfterNulCount) {
  const std::string with_nul("ab\0cd", 5);
  const std::string hash = hash_password(with_nul, pwhash_params::minimal());
  EXPECT_TRUE(verify_password(hash, with_nul));
  EXPECT_FALSE(verify_password(hash, "ab"));
}

TEST_F(CryptoTest, EmptyPasswordRoundTrip) {
  const std::string hash = hash_password("", pwhash_params::minimal());
  EXPECT_TRUE(verify_password(hash, ""));
  EXPECT_FALSE(verify_password(hash, "x"));
}

TEST_F(CryptoTest, MalformedHashRejected) {
  const std::string hash = hash_password("pw", pwhash_params::minimal());
  EXPECT_FALSE(verify_password("", "pw"));
  EXPECT_FALSE(verify_password("not a hash", "pw"));
  EXPECT_FALSE(verify_password(hash.substr(0, hash.size() / 2), "pw"));
  EXPECT_FALSE(verify_password(hash + std::string(1, '\0') + "junk", "pw"));
  EXPECT_FALSE(verify_password(std::string(4096, 'a'), "pw"));
  EXPECT_FALSE(verify_password("$argon2id$v=19$m=oops,t=2,p=1$c2FsdA$aGFzaA", "pw"));
}

TEST_F(CryptoTest, RandomTokenLength) {
  EXPECT_EQ(random_token(0), "");
  EXPECT_EQ(random_token(1).size(), 2u);
  EXPECT_EQ(random_token(3).size(), 4u);
  EXPECT_EQ(random_token(32).size(), 43u);
}

TEST_F(CryptoTest, RandomTokenAlphabetAndUniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string t = random_token(16);
    ASSERT_EQ(t.size(), 22u);
    for (char c : t) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      ASSERT_TRUE(ok) << "unexpected character in " << t;
    }
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST_F(CryptoTest, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(CryptoTest, KeyEncodeDecodeRoundTrip) {
  const signing_key key = random_signing_key();
  EXPECT_NE(key, random_signing_key());
  const std::string text = encode_key(key);
  EXPECT_EQ(text.size(), 43u);
  signing_key back{};
  ASSERT_TRUE(decode_key(text, back));
  EXPECT_EQ(back, key);
  EXPECT_EQ(encode_key(fixed_key(0)), std::string(43, 'A'));
}

TEST_F(CryptoTest, KeyDecodeFailuresLeaveOutputAlone) {
  const std::string good = encode_key(fixed_key(0x11));
  const signing_key sentinel = fixed_key(0x99);
  for (const std::string& bad : {
           std::string(),
           good.substr(0, 42),              // 31 bytes and a bit
           good + "A",                      // too long
           encode_key(fixed_key(0)) + "=",  // padding
           b64(std::string(31, 'x')),       // 31 bytes
           b64(std::string(33, 'x')),       // 33 bytes
           std::string(42, 'A') + "B",      // non-zero trailing bits
           "+" + good.substr(1),            // standard alphabet
           "/" + good.substr(1),
           good.substr(0, 20) + " " + good.substr(21),
       }) {
    signing_key out = sentinel;
    EXPECT_FALSE(decode_key(bad, out)) << bad;
    EXPECT_EQ(out, sentinel) << bad;
  }
}

TEST_F(CryptoTest, TokenRoundTrip) {
  const std::string token = signer_.sign(claims_);
  ASSERT_EQ(std::count(token.begin(), token.end(), '.'), 1);
  const auto r = signer_.verify(token, now);
  ASSERT_TRUE(r.has_value()) << error_in(r).message;
  const token_claims& c = r.value();
  EXPECT_EQ(c.session_id, "sess-1");
  EXPECT_EQ(c.account_id, 42);
  EXPECT_EQ(c.expires_ms, now + 60'000);
}

TEST_F(CryptoTest, TokenPayloadIsCompactJson) {
  const std::string token = signer_.sign(claims_);
  EXPECT_EQ(unb64(token.substr(0, token.find('.'))),
            R"({"sid":"sess-1","aid":42,"exp":1700000060000})");
  EXPECT_EQ(token.size() - token.find('.') - 1, 43u);  // 32-byte MAC
}

TEST_F(CryptoTest, TokenMatchesIndependentConstruction) {
  const std::string json = R"({"sid":"sess-1","aid":42,"exp":1700000060000})";
  EXPECT_EQ(signer_.sign(claims_), forge(json, key_));
}

TEST_F(CryptoTest, TokenExpiry) {
  const std::string token = signer_.sign(claims_);
  EXPECT_TRUE(signer_.verify(token, claims_.expires_ms - 1).has_value());
  EXPECT_EQ(error_of(signer_.verify(token, claims_.expires_ms)), errc::token_expired);
  EXPECT_EQ(error_of(signer_.verify(token, claims_.expires_ms + 1)), errc::token_expired);
}

TEST_F(CryptoTest, TamperedPayloadRejected) {
  const std::string token = signer_.sign(claims_);
  const auto dot = token.find('.');
  EXPECT_EQ(error_of(signer_.verify(flip(token, 5), now)), errc::token_invalid);

  // A genuine payload for other claims spliced onto this token's MAC.
  token_claims other = claims_;
  other.account_id = 43;
  const std::string forged = signer_.sign(other);
  const std::string spliced = forged.substr(0, forged.find('.')) + token.substr(dot);
  EXPECT_EQ(error_of(signer_.verify(spliced, now)), errc::token_invalid);
}

TEST_F(CryptoTest, TamperedMacRejected) {
  const std::string token = signer_.sign(claims_);
  const auto dot = token.find('.');
  EXPECT_EQ(error_of(signer_.verify(flip(token, dot + 1), now)), errc::token_invalid);
  EXPECT_EQ(error_of(signer_.verify(flip(token, token.size() - 10), now)), errc::token_invalid);
}

TEST_F(CryptoTest, TokenFromAnotherKeyRejected) {
  const token_signer other(fixed_key(0x43));
  EXPECT_EQ(error_of(signer_.verify(other.sign(claims_), now)), errc::token_invalid);
  EXPECT_EQ(error_of(signer_.verify(
                forge(R"({"sid":"s","aid":1,"exp":1800000000000})", fixed_key(0x43)), now)),
            errc::token_invalid);
}

TEST_F(CryptoTest, TruncatedTokenRejected) {
  const std::string token = signer_.sign(claims_);
  const auto dot = token.find('.');
  EXPECT_EQ(error_of(signer_.verify(token.substr(0, token.size() - 1), now)), errc::token_invalid);
  EXPECT_EQ(error_of(signer_.verify(token.substr(0, dot + 1), now)), errc::token_invalid);
  EXPECT_EQ(error_of(signer_.verify(token.substr(0, dot), now)), errc::token_invalid);
  EXPECT_EQ(error_of(signer_.verify(token.substr(1), now)), errc::token_invalid);
  EXPECT_EQ(error_of(signer_.verify(token.substr(dot), now)), errc::token_invalid);
}

TEST_F(CryptoTest, GarbageTokensRejected) {
  const std::string token = signer_.sign(claims_);
  const auto dot = token.find('.');
  for (const std::string& bad : {
           std::string(),
           std::string("."),
           std::string(".."),
           std::string("garbage"),
           std::string("!!!.???"),
           std::string("a.b.c"),
           token.substr(0, dot) + token.substr(dot + 1),  // missing dot
           token + ".",
           token + ".AAAA",
           token.substr(0, dot) + ".." + token.substr(dot + 1),
           token.substr(0, dot) + "." + b64(std::string(31, 'm')),  // short MAC
           std::string(token).replace(dot, 1, "\0", 1),
       }) {
    EXPECT_EQ(error_of(signer_.verify(bad, now)), errc::token_invalid) << bad;
  }
}

TEST_F(CryptoTest, BadClaimsBehindValidMacRejected) {
  for (const char* json : {
           "",
           "not json",
           "[]",
           "null",
           R"({"sid":"s","aid":1,"exp":1800000000000)",  // truncated JSON
           R"({"aid":1,"exp":1800000000000})",
           R"({"sid":"s","exp":1800000000000})",
           R"({"sid":"s","aid":1})",
           R"({"sid":"","aid":1,"exp":1800000000000})",
           R"({"sid":7,"aid":1,"exp":1800000000000})",
           R"({"sid":"s","aid":"1","exp":1800000000000})",
           R"({"sid":"s","aid":0,"exp":1800000000000})",
           R"({"sid":"s","aid":-5,"exp":1800000000000})",
           R"({"sid":"s","aid":1.5,"exp":1800000000000})",
           R"({"sid":"s","aid":18446744073709551615,"exp":1800000000000})",
           R"({"sid":"s","aid":1,"exp":"1800000000000"})",
           R"({"sid":"s","aid":1,"exp":1.8e12})",
           R"({"sid":"s","aid":1,"exp":null})",
           R"({"sid":"","aid":1,"exp":1})",  // invalid wins over expired
       }) {
    EXPECT_EQ(error_of(signer_.verify(forge(json, key_), now)), errc::token_invalid) << json;
  }
}

TEST_F(CryptoTest, ForgedValidClaimsAccepted) {
  // The checks above fail for the right reason: the same construction with good claims passes,
  // and an unknown extra claim is ignored.
  const auto r = signer_.verify(
      forge(R"({"sid":"세션","aid":9007199254740993,"exp":1800000000000,"x":1})", key_), now);
  ASSERT_TRUE(r.has_value()) << error_in(r).message;
  const token_claims& c = r.value();
  EXPECT_EQ(c.session_id, "세션");
  EXPECT_EQ(c.account_id, 9007199254740993);
}

TEST_F(CryptoTest, SignedEmptySessionIdDoesNotVerify) {
  token_claims c = claims_;
  c.session_id.clear();
  EXPECT_EQ(error_of(signer_.verify(signer_.sign(c), now)), errc::token_invalid);
  c = claims_;
  c.account_id = 0;
  EXPECT_EQ(error_of(signer_.verify(signer_.sign(c), now)), errc::token_invalid);
}

TEST_F(CryptoTest, RandomInputNeverThrows) {
  std::mt19937 gen(12345);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x01\xff";
  for (int i = 0; i < 2000; ++i) {
    std::string s(gen() % 120, '\0');
    for (char& c : s)
      c = alphabet[gen() % alphabet.size()];
    result<token_claims> r = error{errc::internal};
    EXPECT_NO_THROW(r = signer_.verify(s, now));
    EXPECT_EQ(error_of(r), errc::token_invalid) << s;
  }
}

}  // namespace
}  // namespace maratang::core
