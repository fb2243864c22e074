// Mystery: the survival escape room of seeds 000/001 as a Maratang mode — a scenario-driven world
// (src/modes/mystery/engine.hpp), NPCs and a narrator written by an LLM when one is configured
// and by the scenario's own text otherwise, and a casebook when play ends. See
// src/modes/mystery/README.md.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "lobby/mode.hpp"
#include "modes/mystery/scenario.hpp"

namespace maratang::mystery {

class llm_port;
class casebook_writer;

// What every Mystery room shares: the loaded scenarios and the services. Read-only once the
// server runs; the services outlive every room.
struct mystery_services {
  std::map<std::string, std::shared_ptr<const scenario>> scenarios;  // by id
  llm_port* llm = nullptr;               // null: the offline narrator only
  casebook_writer* casebooks = nullptr;  // null: no casebooks (unit tests)
  int turn_ms = 90000;                   // default turn length in a group (0: no limit)
  int max_llm_lines_per_room = 4;        // LLM lines in flight per room; more are told offline
};

std::unique_ptr<lobby::mode_factory> make_mystery_mode_factory(
    std::shared_ptr<const mystery_services> services);

}  // namespace maratang::mystery
