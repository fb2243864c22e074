#include "core/password_policy.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace maratang::core {
namespace {

TEST(password_policy, refuses_weak_passwords_with_a_reason) {
  password_policy p;
  p.add_common("password");
  p.add_common("12345678");
  p.add_common("Sunshine");
  const std::string email = "mira.kim@example.com";
  for (const char* weak : {
           "        ",                                          // eight spaces
           "\t \t \t \t ",                                      // only whitespace
           "\u3000\u3000\u3000\u3000\u3000\u3000\u3000\u3000",  // ideographic spaces
           "aaaaaaaaaa",                                        // one character repeated
           "password",                                          // common
           "PASSWORD",                                          // common, another case
           "12345678",                                          // common
           "sunshine",              // common (the list's own case does not matter)
           "mira.kim@example.com",  // the email
           "MIRA.KIM@EXAMPLE.COM",  // the email, another case
           "mira.kim",              // its local part
           "xxmira.kim2024",        // containing the local part
           "short",                 // too short
           "가나다라마바사",        // seven characters (21 bytes): too short
       }) {
    auto r = p.check(weak, email);
    ASSERT_FALSE(r) << weak;
    EXPECT_EQ(r.error().code, errc::weak_password) << weak;
    EXPECT_FALSE(r.error().message.empty());
  }
  for (const char* fine : {"correct horse", "password-is-long", "가나다라마바사아", "mira1234x"}) {
    EXPECT_TRUE(p.check(fine, email)) << fine;
  }
  // A short local part is not looked for inside passwords (only equality counts).
  EXPECT_TRUE(p.check("kimchi stew", "kim@example.com"));
  EXPECT_FALSE(p.check("kim@example.com", "kim@example.com"));
}

TEST(password_policy, loads_a_list_and_reports_a_missing_one) {
  const std::string path = ::testing::TempDir() + "/maratang_common_passwords.lst";
  {
    std::ofstream out(path);
    out << "#!comment: a list\n123456\nqwertyuiop\r\nletmein123\n\n";
  }
  password_policy p;
  auto n = p.load_list(path);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(p.common_count(), 2u) << "entries shorter than 8 are refused by length anyway";
  EXPECT_FALSE(p.check("QwertyUIOP", "a@b.c"));
  EXPECT_FALSE(p.check("letmein123", "a@b.c"));
  EXPECT_TRUE(p.check("letmein1234", "a@b.c"));
  std::remove(path.c_str());
  auto missing = p.load_list(path);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(path), std::string::npos);
}

}  // namespace
}  // namespace maratang::core
