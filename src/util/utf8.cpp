#include "util/utf8.hpp"

#include <cstdint>

namespace maratang::util {

namespace {

// The length of the well-formed UTF-8 sequence at s[i], or 0 if there is none there.
std::size_t sequence_at(std::string_view s, std::size_t i) noexcept {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) {
    n = 2;
  } else if ((c >> 4) == 0xE) {
    n = 3;
  } else if ((c >> 3) == 0x1E) {
    n = 4;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  std::uint32_t cp = c & (0x7Fu >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string_view utf8_prefix_chars(std::string_view s, std::size_t max_chars) noexcept {
  std::size_t i = 0;
  for (std::size_t chars = 0; i < s.size() && chars < max_chars; ++chars) {
    const std::size_t n = sequence_at(s, i);
    i += n == 0 ? 1 : n;
  }
  return s.substr(0, i);
}

std::string_view utf8_prefix_bytes(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = sequence_at(s, i);
    const std::size_t step = n == 0 ? 1 : n;
    if (i + step > max_bytes) break;
    i += step;
  }
  return s.substr(0, i);
}

bool utf8_valid(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = sequence_at(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace maratang::util
