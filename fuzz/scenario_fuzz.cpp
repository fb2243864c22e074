// Fuzzes the Mystery scenario loader (src/modes/mystery/loader.hpp): the input is written as the
// YAML files of a scenario folder (a line "#@@file" starts the next file, up to four) in a
// private temporary folder, then load_scenario() parses, validates and analyses it. Checks the
// load_result contract: a scenario exactly when there are no errors, errors sorted and capped.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <tuple>

#include "check.hpp"
#include "modes/mystery/loader.hpp"

namespace fs = std::filesystem;
namespace mystery = maratang::mystery;

namespace {

using maratang::fuzz::check;

// Created once per process, removed at exit (the path is never destroyed, so the exit handler can
// still read it).
const fs::path& folder() {
  static const fs::path* dir = [] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    auto* d =
        new fs::path(base / ("maratang-scenario-fuzz-" + std::to_string(::getpid())) / "case_file");
    fs::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(folder().parent_path(), ec);
    });
    return d;
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path& dir = folder();
  for (const auto& e : fs::directory_iterator(dir))
    fs::remove(e.path());
  std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view sep = "#@@file\n";
  for (int i = 0; i < 4; ++i) {
    auto at = i < 3 ? in.find(sep) : std::string_view::npos;
    std::string_view part = in.substr(0, at);
    std::ofstream(dir / (std::string(1, static_cast<char>('a' + i)) + ".yaml"), std::ios::binary)
        .write(part.data(), static_cast<std::streamsize>(part.size()));
    if (at == std::string_view::npos) break;
    in.remove_prefix(at + sep.size());
  }
  auto r = mystery::load_scenario(dir);
  check((r.scn != nullptr) == r.errors.empty());
  check(r.errors.size() <= mystery::max_diagnostics + 1);
  for (std::size_t i = 1; i < r.errors.size(); ++i) {
    const auto& a = r.errors[i - 1].pos;
    const auto& b = r.errors[i].pos;
    if (i + 1 < r.errors.size() || r.errors.size() <= mystery::max_diagnostics)
      check(std::tie(a.file, a.line) <= std::tie(b.file, b.line));
  }
  for (const auto& d : r.errors) {
    check(!d.message.empty() && d.pos.line >= 0);
    (void)mystery::to_string(d);
  }
  if (r.scn) check(!r.scn->id.empty());
  return 0;
}
