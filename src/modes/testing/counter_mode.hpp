// A test-only game mode ("test.counter"): players add numbers to a shared total and each keeps a
// private subtotal only they see. It exercises every part of the mode contract (messages, private
// sends, timers, reconnect views, end of game, a mode that throws) for the integration tests. It is
// registered only when testing.test_modes is on; it is not a game. It seats up to 1000 players so
// that benchmarks can fill large rooms.
#pragma once

#include <memory>

#include "lobby/mode.hpp"

namespace maratang::modes {

std::unique_ptr<lobby::mode_factory> make_counter_mode_factory();

}  // namespace maratang::modes
