// Binary frames go, by their first byte, to the one mode that names it: decode_binary and the fast
// path (binary_input_type) ask the same mode, and the registry refuses two modes naming one byte.
#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "lobby/mode.hpp"

namespace maratang::lobby {
namespace {

// A mode whose binary messages start with its tags: it decodes any such bytes as `type` and its
// fast path takes any of them, and it counts what it is asked.
class tagged_factory final : public mode_factory {
 public:
  tagged_factory(std::string name, std::vector<unsigned char> tags)
      : name_(std::move(name)), tags_(std::move(tags)), type_(name_ + ".input") {}
  std::string_view name() const override { return name_; }
  int min_players() const override { return 1; }
  int max_players() const override { return 2; }
  std::span<const proto::message_spec> messages() const override { return {}; }
  result<boost::json::object> validate_settings(const boost::json::object& s) const override {
    return s;
  }
  std::unique_ptr<mode> create(const boost::json::object&) const override { return nullptr; }
  result<std::unique_ptr<mode>> restore(const boost::json::object&,
                                        const boost::json::object&) const override {
    return error{errc::bad_field};
  }
  std::span<const unsigned char> binary_tags() const override { return tags_; }
  result<decoded> decode_binary(std::string_view) const override {
    ++asked;
    return decoded{type_, {}};
  }
  std::string_view binary_input_type(std::string_view) const override {
    ++asked;
    return type_;
  }
  mutable int asked = 0;

 private:
  std::string name_;
  std::vector<unsigned char> tags_;
  std::string type_;
};

TEST(mode_registry, a_binary_frame_goes_to_the_mode_that_names_its_first_byte_only) {
  mode_registry modes;
  auto a = std::make_unique<tagged_factory>("a", std::vector<unsigned char>{0x05});
  auto b = std::make_unique<tagged_factory>("b", std::vector<unsigned char>{0x06, 0x07});
  auto* pa = a.get();
  auto* pb = b.get();
  modes.add(std::move(a));
  modes.add(std::move(b));

  // Mode a takes any bytes it is given: were it asked first for everything (the registration
  // order), it would take b's bytes too.
  auto d = modes.decode_binary("\x06rest");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->type, "b.input");
  const mode_factory* owner = nullptr;
  EXPECT_EQ(modes.binary_input_type("\x07", owner), "b.input");
  EXPECT_EQ(owner, pb);
  EXPECT_EQ(modes.binary_input_type("\x05x", owner), "a.input");
  EXPECT_EQ(owner, pa);
  EXPECT_EQ(pa->asked, 1);
  EXPECT_EQ(pb->asked, 2);

  // A byte no mode names, and no bytes at all: unknown_type, and no mode is asked.
  for (std::string_view bytes : {std::string_view("\x08", 1), std::string_view()}) {
    auto none = modes.decode_binary(bytes);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, errc::unknown_type);
    owner = nullptr;
    EXPECT_TRUE(modes.binary_input_type(bytes, owner).empty());
    EXPECT_EQ(owner, nullptr);
  }
  EXPECT_EQ(pa->asked, 1);
  EXPECT_EQ(pb->asked, 2);
}

TEST(mode_registry, two_modes_naming_one_byte_or_a_mode_naming_a_brace_are_refused) {
  mode_registry modes;
  modes.add(std::make_unique<tagged_factory>("a", std::vector<unsigned char>{0x05, 0x06}));
  EXPECT_THROW(
      modes.add(std::make_unique<tagged_factory>("b", std::vector<unsigned char>{0x09, 0x06})),
      std::logic_error);
  EXPECT_THROW(modes.add(std::make_unique<tagged_factory>("c", std::vector<unsigned char>{'{'})),
               std::logic_error);
  EXPECT_THROW(
      modes.add(std::make_unique<tagged_factory>("d", std::vector<unsigned char>{0x0a, 0x0a})),
      std::logic_error);
  // Unchanged by what it refused: 0x06 is still a's, 0x09 and 0x0a nobody's, b-d absent.
  const mode_factory* owner = nullptr;
  EXPECT_EQ(modes.binary_input_type("\x06", owner), "a.input");
  for (std::string_view bytes : {"\x09", "\x0a"}) {
    auto d = modes.decode_binary(bytes);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, errc::unknown_type);
  }
  EXPECT_EQ(modes.find("b"), nullptr);
  EXPECT_EQ(modes.find("d"), nullptr);
  EXPECT_EQ(modes.all().size(), 1u);
  // A mode without binary messages is welcome beside it.
  modes.add(std::make_unique<tagged_factory>("e", std::vector<unsigned char>{}));
  EXPECT_EQ(modes.all().size(), 2u);
}

}  // namespace
}  // namespace maratang::lobby
