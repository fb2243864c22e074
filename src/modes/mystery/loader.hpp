// Loads a Mystery scenario from its folder of YAML files (docs/SCENARIOS.md) and validates it:
// syntax, unknown keys, duplicate ids, references, ranges, puzzle shapes, and a static
// reachability analysis (every ending, puzzle and location must be reachable from the start).
// Every problem is reported with its file and line; all of them are collected, up to a cap.
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "modes/mystery/scenario.hpp"

namespace maratang::mystery {

// One problem found in a scenario. `pos.line` is 1-based, 0 when the whole file (or folder) is
// meant.
struct diagnostic {
  source_pos pos;
  std::string message;
};

// "file:line: message" ("file: message" without a line).
std::string to_string(const diagnostic& d);

// At most this many diagnostics per scenario; one more says that the rest were left out.
inline constexpr std::size_t max_diagnostics = 100;

struct load_result {
  std::filesystem::path folder;
  std::shared_ptr<const scenario> scn;  // null exactly when `errors` is non-empty
  std::vector<diagnostic> errors;       // sorted by file, then line
};

// Reads every `*.yaml` file directly in `folder`, in name order, into one scenario.
load_result load_scenario(const std::filesystem::path& folder);

// True when `folder` directly holds at least one `*.yaml` file.
bool is_scenario_folder(const std::filesystem::path& folder);

// The commands of a walkthrough file (`<scenario>/walkthroughs/<ending>.txt`): one per line,
// `#` starts a comment, blank lines skipped, surrounding spaces trimmed. Empty if unreadable.
std::vector<std::string> read_walkthrough(const std::filesystem::path& file);

// Loads every subfolder of `dir` that is a scenario folder, in name order. A broken scenario does
// not stop the others; a scenario id used by an earlier folder is an error in the later one.
std::vector<load_result> load_scenarios(const std::filesystem::path& dir);

// `maratang scenario validate PATH...`: each path is a scenario folder or a folder of them.
// Prints "ok: <id> (<title>)" to `out` per good scenario and every diagnostic to `err`; true when
// every scenario is valid (and at least one was found under each path).
bool validate_paths(const std::vector<std::filesystem::path>& paths, std::ostream& out,
                    std::ostream& err);

}  // namespace maratang::mystery
