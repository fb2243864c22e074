// Arena: seed 004's realtime top-down shooter as a Maratang mode. The room ticks it at a fixed
// rate; clients send only inputs, which wait in a bounded per-player queue drained one a tick; each
// client gets delta snapshots of what is near it. See src/modes/arena/README.md.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "lobby/mode.hpp"
#include "obs/metrics.hpp"

namespace maratang::events {
class event_stream;
}
namespace maratang::arena {
class sim;
}

namespace maratang::modes {

// Why an input was dropped (each counted: maratang_arena_inputs_dropped_total{reason}).
enum class input_drop : std::uint8_t {
  spectator,     // not a player of this game
  dead,          // the player is dead
  duplicate,     // a sequence number already received
  out_of_order,  // older than one already received
  stale,         // made while viewing a tick older than the lag-compensation window
  too_many,      // over max_inputs_per_tick since the last tick
  queue_full,    // the player's queue holds its bound
  count_
};
std::string_view input_drop_name(input_drop d);

// Counters shared by every Arena game of a server (any thread).
struct arena_counters {
  std::atomic<std::uint64_t> inputs{0};     // accepted into a queue
  std::atomic<std::uint64_t> fast_path{0};  // binary inputs and acks the fast path brought
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(input_drop::count_)> dropped{};
  std::atomic<std::uint64_t> states_full{0};
  std::atomic<std::uint64_t> states_delta{0};
  std::atomic<std::uint64_t> acks_ignored{0};  // unknown, old or repeated snapshot ticks
  std::atomic<std::uint64_t> events_published{0};
  std::atomic<std::uint64_t> events_dropped{0};  // the event stream refused them
  obs::histogram tick_seconds{
      {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.033}};
  std::atomic<std::uint64_t> tick_ns_max{0};  // the longest tick since start
  void drop(input_drop d) { dropped[static_cast<std::size_t>(d)].fetch_add(1); }
  std::uint64_t dropped_of(input_drop d) const { return dropped[static_cast<std::size_t>(d)]; }
};

struct arena_deps {
  events::event_stream* events = nullptr;  // logs_move / logs_attack / logs_heal; null: none
  obs::metrics* metrics = nullptr;         // where the counters are rendered; null: nowhere
  // Shared counters (tests read them); made by the factory when null.
  std::shared_ptr<arena_counters> counters;
};

std::unique_ptr<lobby::mode_factory> make_arena_mode_factory(arena_deps deps = {});

// The simulation of an Arena game (null for any other mode): for tests and tools, on the room's
// strand.
const arena::sim* arena_sim_of(const lobby::mode& m);

}  // namespace maratang::modes
