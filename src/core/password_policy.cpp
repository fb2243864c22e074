#include "core/password_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <vector>

namespace maratang::core {

namespace {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Code points of valid UTF-8 (the body parser has already refused invalid UTF-8; a stray byte
// counts as one code point of its own).
std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const std::size_t n = b < 0x80         ? 1
                          : (b >> 5) == 6  ? 2
                          : (b >> 4) == 14 ? 3
                          : (b >> 3) == 30 ? 4
                                           : 1;
    char32_t cp = n == 1 ? b : b & (0x7f >> n);
    for (std::size_t k = 1; k < n && i + k < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    out.push_back(cp);
    i += n;
  }
  return out;
}

bool is_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200b) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000 || c == 0x3164 || c == 0xfeff;
}

}  // namespace

result<std::size_t> password_policy::load_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) return error{errc::not_found, fmt::format("cannot read {}", path)};
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#!comment", 0) == 0) continue;
    add_common(line);
    ++n;
  }
  return n;
}

void password_policy::add_common(std::string_view password) {
  // Shorter ones are refused by length anyway.
  if (password.size() >= kMinChars) common_.insert(ascii_lower(password));
}

result<> password_policy::check(std::string_view password, std::string_view email) const {
  const auto cps = code_points(password);
  if (cps.size() < kMinChars) {
    return error{errc::weak_password,
                 fmt::format("The password must be at least {} characters long.", kMinChars)};
  }
  if (std::all_of(cps.begin(), cps.end(), is_space)) {
    return error{errc::weak_password, "The password must not be only spaces."};
  }
  if (std::all_of(cps.begin(), cps.end(), [&](char32_t c) { return c == cps.front(); })) {
    return error{errc::weak_password, "The password must not be one character repeated."};
  }
  const std::string lower = ascii_lower(password);
  const std::string_view local = email.substr(0, email.find('@'));
  if (!email.empty() && (lower == email || lower == local ||
                         (local.size() >= 4 && lower.find(local) != std::string::npos))) {
    return error{errc::weak_password, "The password must not contain the email address."};
  }
  if (common_.count(lower)) {
    return error{errc::weak_password,
                 "That password is on a list of common passwords; choose a less common one."};
  }
  return {};
}

}  // namespace maratang::core
