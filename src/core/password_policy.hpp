// What a new password must be: at least 8 characters (code points), not only whitespace and not
// one character repeated, not the email address or its local part (nor containing the local part
// when that is 4 or more characters), and not on a list of common passwords (compared without
// ASCII case). The lists are files of one password per line, loaded at start-up: by default
// Openwall's list of common passwords (Debian package john-data) and cracklib's small dictionary
// (cracklib-runtime). Read-only after loading, so any thread may check.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

#include "util/error.hpp"

namespace maratang::core {

class password_policy {
 public:
  static constexpr std::size_t kMinChars = 8;

  // Adds every line of the file (lines starting with "#!comment" skipped) to the common
  // passwords. Returns how many lines were read, or an error naming the file.
  result<std::size_t> load_list(const std::string& path);
  void add_common(std::string_view password);
  std::size_t common_count() const noexcept { return common_.size(); }

  // ok, or errc::weak_password with a message saying what is wrong. `email` is normalized
  // (lower case, see normalize_email).
  result<> check(std::string_view password, std::string_view email) const;

 private:
  std::unordered_set<std::string> common_;  // ASCII lower case
};

}  // namespace maratang::core
