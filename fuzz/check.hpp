// The fuzz targets' assertion: names the failed line, then aborts (libFuzzer saves the input).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace maratang::fuzz {

inline void check(bool ok, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: check failed\n", file, line);
  std::abort();
}

}  // namespace maratang::fuzz
