// Fuzzes the config loader (src/app/config.hpp): the input is the config file (JSON with comments
// and trailing commas), written to a private temporary file, optionally followed by a line "#@@"
// and lines that are environment entries ("$NAME=value") or flags ("key=value"), so that every
// setting's own value parser is reached from all three sources. A loaded config must pass the
// cross-setting checks and describe() itself as a JSON object.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.hpp"
#include "check.hpp"

namespace fs = std::filesystem;
namespace app = maratang::app;

namespace {

using maratang::fuzz::check;

// Named once per process, removed at exit (the path is never destroyed, so the exit handler can
// still read it).
const fs::path& file() {
  static const fs::path* f = [] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    auto* p = new fs::path(base / ("maratang-config-fuzz-" + std::to_string(::getpid()) + ".json"));
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove(file(), ec);
    });
    return p;
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view rest;
  if (auto at = in.find("#@@\n"); at != std::string_view::npos) {
    rest = in.substr(at + 4);
    in = in.substr(0, at);
  }
  std::ofstream(file(), std::ios::binary).write(in.data(), static_cast<std::streamsize>(in.size()));

  std::vector<std::string> env_strings;
  app::overrides flags;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.starts_with('$')) {
      env_strings.emplace_back(line.substr(1));
    } else if (auto eq = line.find('='); eq != std::string_view::npos) {
      flags.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
  }
  std::vector<char*> env;
  for (auto& s : env_strings)
    env.push_back(s.data());
  env.push_back(nullptr);

  auto r = app::load_config(file().string(), flags, env.data());
  if (!r) {
    check(!r.error().message.empty());
    return 0;
  }
  const auto& c = r->cfg;
  check(c.mafia_min_players <= c.mafia_max_players);
  check(c.nickname_min <= c.nickname_max);
  check(!c.data_dir.empty() && !c.sqlite_path.empty());
  check(!c.traces_default_area.empty() && c.traces_default_area.size() <= 64);
  // Well-formed JSON, quotes and control characters escaped. Bytes that are not UTF-8 pass through
  // (environment and flag values are not checked for UTF-8; only the file is), hence the option.
  boost::json::parse_options po;
  po.allow_invalid_utf8 = true;
  boost::json::error_code ec;
  auto v = boost::json::parse(app::describe(*r), ec, {}, po);
  check(!ec && v.is_object());
  return 0;
}
