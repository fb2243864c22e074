// Cutting text without cutting a character. A byte-wise cut can split a multi-byte UTF-8 sequence
// (any Korean syllable is three bytes), which leaves invalid UTF-8 that JSON peers and a real
// vLLM refuse. Every place that shortens text for a person or a model cuts with these.
#pragma once

#include <cstddef>
#include <string_view>

namespace maratang::util {

// The longest prefix of `s` of at most `max_chars` code points. A malformed byte counts as one
// character and is kept as is (the cut never lands inside a well-formed sequence).
std::string_view utf8_prefix_chars(std::string_view s, std::size_t max_chars) noexcept;

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a well-formed
// UTF-8 sequence.
std::string_view utf8_prefix_bytes(std::string_view s, std::size_t max_bytes) noexcept;

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool utf8_valid(std::string_view s) noexcept;

}  // namespace maratang::util
