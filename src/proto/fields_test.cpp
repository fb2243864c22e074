#include "proto/fields.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <stdexcept>

namespace maratang::proto {
namespace {

namespace json = boost::json;

constexpr field_spec spec[] = {
    {"target", field_type::integer, false, 1, 100, ""},
    {"yes", field_type::boolean, true, 0, 0, ""},
    {"name", field_type::string, false, 1, 4, ""},
    {"extra", field_type::object, false, 0, 0, ""},
};

TEST(fields_test, an_optional_null_reads_as_absent) {
  auto f = fields::check({{"target", nullptr}, {"yes", true}}, spec);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->opt_integer("target"));
  EXPECT_FALSE(f->all().contains("target"));
  EXPECT_TRUE(f->boolean("yes"));
  EXPECT_EQ(f->object("extra"), nullptr);
}

TEST(fields_test, a_required_null_is_missing) {
  auto f = fields::check({{"yes", nullptr}}, spec);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, errc::missing_field);
  EXPECT_NE(f.error().message.find("\"yes\""), std::string::npos);
}

TEST(fields_test, wrong_types_and_bounds_are_bad_field) {
  for (json::value v : {json::value("5"), json::value(1.5), json::value(true), json::value(0),
                        json::value(101), json::value(UINT64_MAX), json::value(json::array{})}) {
    auto f = fields::check({{"target", v}, {"yes", false}}, spec);
    ASSERT_FALSE(f) << json::serialize(v);
    EXPECT_EQ(f.error().code, errc::bad_field) << json::serialize(v);
  }
  EXPECT_FALSE(fields::check({{"yes", false}, {"name", "toolong"}}, spec));
  EXPECT_FALSE(fields::check({{"yes", false}, {"name", ""}}, spec));
  EXPECT_TRUE(fields::check({{"yes", false}, {"name", "한글"}}, spec));
}

TEST(fields_test, an_unsigned_integer_in_range_reads_as_int64) {
  auto f = fields::check({{"target", json::value(std::uint64_t{7})}, {"yes", true}}, spec);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opt_integer("target"), 7);
}

TEST(fields_test, a_read_that_does_not_match_the_list_is_a_bug) {
  auto f = fields::check({{"target", 3}, {"yes", true}, {"other", 1}}, spec);
  ASSERT_TRUE(f);
  EXPECT_THROW((void)f->integer("target"), std::logic_error);     // optional, read as required
  EXPECT_THROW((void)f->opt_string("target"), std::logic_error);  // another type
  EXPECT_THROW((void)f->opt_integer("other"), std::logic_error);  // not declared
  EXPECT_EQ(f->opt_integer("target"), 3);
  EXPECT_TRUE(f->all().contains("other"));  // kept, for forward compatibility
}

}  // namespace
}  // namespace maratang::proto
