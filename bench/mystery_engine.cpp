// Mystery engine throughput on one core: plays the shipped walkthroughs over and over (a fresh
// engine per game) and prints actions per second, for the engine alone (commands parsed once)
// and with the rule-based parser (as the mode plays typed text).
//
//   build/release/bench/mystery_engine [--scenarios DIR] [--seconds S]
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "modes/mystery/engine.hpp"
#include "modes/mystery/loader.hpp"
#include "modes/mystery/parser.hpp"

namespace fs = std::filesystem;
using namespace maratang::mystery;

namespace {

struct script {
  std::shared_ptr<const scenario> scn;
  std::vector<std::string> lines;
  std::vector<action> actions;
};

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = "scenarios";
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--scenarios")) dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
  }
  std::vector<script> scripts;
  for (auto& r : load_scenarios(dir)) {
    if (!r.scn) {
      fmt::print(stderr, "{} did not load\n", r.folder.string());
      return 1;
    }
    auto w = r.folder / "walkthroughs";
    if (!fs::is_directory(w)) continue;
    for (const auto& f : fs::directory_iterator(w)) {
      script s{r.scn, read_walkthrough(f.path()), {}};
      for (const auto& l : s.lines) {
        auto a = parse_command(l, *r.scn);
        if (!a) {
          fmt::print(stderr, "{}: cannot parse '{}'\n", f.path().string(), l);
          return 1;
        }
        s.actions.push_back(*a);
      }
      scripts.push_back(std::move(s));
    }
  }
  if (scripts.empty()) {
    fmt::print(stderr, "no walkthroughs under {}\n", dir.string());
    return 1;
  }

  auto run = [&](bool parse) {
    using clk = std::chrono::steady_clock;
    std::uint64_t actions = 0, games = 0, events = 0, refused = 0;
    auto start = clk::now();
    auto until = start + std::chrono::duration<double>(seconds);
    while (clk::now() < until) {
      for (const auto& s : scripts) {
        engine e(s.scn, {1});
        for (std::size_t i = 0; i < s.actions.size(); ++i) {
          maratang::result<outcome> o =
              parse ? e.act(1, *parse_command(s.lines[i], *s.scn)) : e.act(1, s.actions[i]);
          if (o) {
            events += o->events.size();
          } else {
            ++refused;
          }
          ++actions;
        }
        ++games;
      }
    }
    double secs = std::chrono::duration<double>(clk::now() - start).count();
    fmt::print(
        "{:<22} {:>10.0f} actions/s  {:>8.0f} games/s  {:.1f} events/action  "
        "{} refused  ({:.1f} s)\n",
        parse ? "parse + engine" : "engine", static_cast<double>(actions) / secs,
        static_cast<double>(games) / secs,
        static_cast<double>(events) / static_cast<double>(actions), refused, secs);
  };
  fmt::print("mystery_engine: {} walkthroughs, one core\n", scripts.size());
  run(false);
  run(true);
  return 0;
}
