// A real room stepped tick by tick (issue 13: a room's clock and ticks come from an injected
// scheduler): the lobby's rooms arm their ticks, timers and seat graces through a manual_scheduler
// over the lobby's manual_clock, so an Arena room runs exactly the ticks the test steps it
// through, none while the clock stands still, and its time limit ends the game at the stepped
// time to the millisecond.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lobby/lobby.hpp"
#include "lobby/room.hpp"
#include "lobby/scheduler.hpp"
#include "modes/arena/arena_mode.hpp"
#include "net/connection.hpp"
#include "obs/metrics.hpp"
#include "store/batched_store.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/worker.hpp"
#include "util/clock.hpp"

namespace maratang::modes {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

// A player's connection that keeps the types of the JSON messages it is sent.
class recorder final : public net::connection {
 public:
  explicit recorder(std::int64_t id) : id_(id) { ctx_.account_id = id; }
  std::uint64_t id() const noexcept override { return static_cast<std::uint64_t>(id_); }
  void send(net::frame f) override {
    auto v = json::parse(*f);
    if (const auto* t = v.as_object().if_contains("type")) types.emplace_back(t->as_string());
  }
  void send_binary(net::frame) override {}
  void close(std::string_view, std::string_view) override {}
  net::conn_context& context() noexcept override { return ctx_; }
  void run_on_strand(std::function<void()> fn) override { fn(); }
  bool got(std::string_view type) const {
    return std::find(types.begin(), types.end(), type) != types.end();
  }
  std::vector<std::string> types;

 private:
  std::int64_t id_;
  net::conn_context ctx_;
};

// How many ticks the Arena rooms have run: the tick-time histogram's count.
std::uint64_t ticks_run(const arena_counters& c) {
  std::string text;
  c.tick_seconds.render(text, "t");
  const auto at = text.find("t_count ");
  if (at == std::string::npos) throw std::runtime_error("no t_count in " + text);
  return std::stoull(text.substr(at + 8));
}

TEST(RoomStepping, an_arena_room_runs_exactly_the_ticks_it_is_stepped_through) {
  asio::io_context io;
  manual_clock clk;
  auto sched = std::make_shared<lobby::manual_scheduler>(clk);
  store::worker worker(std::make_unique<store::memory_backend>());
  store::batched_store ports(worker);
  obs::metrics m;
  auto counters = std::make_shared<arena_counters>();
  lobby::mode_registry modes;
  modes.add(make_arena_mode_factory({nullptr, nullptr, counters}));
  lobby::lobby_options lo;
  lo.timers = sched;
  lobby::lobby lob(io, modes, ports, ports, clk, m, lo);
  // Runs what is ready (an io_context that ran out of work must be restarted to run again).
  const auto drain = [&] {
    io.restart();
    io.poll();
  };

  auto a = std::make_shared<recorder>(1);
  auto b = std::make_shared<recorder>(2);
  lob.set_nickname(1, "Ari");
  lob.set_nickname(2, "Bo");
  lob.attach(1, a);
  lob.attach(2, b);
  std::vector<result<json::object>> replies;
  const auto keep = [&](result<json::object> r) { replies.push_back(std::move(r)); };
  lobby::create_params cp;
  cp.mode = "arena";
  cp.name = "Stepped";
  cp.capacity = 2;
  cp.seed = 7;
  // 30 Hz, one second of game: its end is due at the 30th tick's time.
  cp.settings = std::make_shared<const json::object>(
      modes.find("arena")->validate_settings({{"hz", 30}, {"time_limit_s", 1}}).value());
  lob.create(1, cp, a, keep);
  drain();
  ASSERT_EQ(replies.size(), 1u);
  ASSERT_TRUE(replies[0].has_value()) << replies[0].error().message;
  lobby::join_params jp;
  jp.room_id = std::string(replies[0]->at("room").at("id").as_string());
  lob.join(2, jp, b, keep);
  drain();
  auto room = lob.room_of(1);
  ASSERT_TRUE(room);
  room->ready(2, true, keep);
  drain();
  room->start(1, keep);
  drain();
  ASSERT_EQ(replies.size(), 4u);
  for (const auto& r : replies)
    ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_TRUE(a->got("room.game_started")) << ::testing::PrintToString(a->types);

  // The clock stands still: however long the test waits, no tick runs.
  for (int i = 0; i < 5; ++i)
    drain();
  EXPECT_EQ(ticks_run(*counters), 0u);
  EXPECT_GT(sched->pending(), 0u);  // the first tick, armed

  // Each step of 34 ms (a tick is 33.3 ms) runs exactly one tick, at the time stepped to.
  const auto started = clk.now_ms();
  for (std::uint64_t i = 1; i <= 10; ++i) {
    sched->advance(34ms, drain);
    EXPECT_EQ(ticks_run(*counters), i) << "after step " << i;
  }
  EXPECT_EQ(clk.now_ms() - started, 340);
  // A 600 ms step runs the 18 ticks due in it, one by one (the mode's own rhythm, never two at
  // once), and the game is still on at 940 ms.
  sched->advance(600ms, drain);
  EXPECT_EQ(ticks_run(*counters), 28u);
  EXPECT_FALSE(a->got("room.game_ended"));
  // The time limit: the game ends at 1 s of stepped time, no later.
  sched->advance(60ms, drain);
  EXPECT_TRUE(a->got("room.game_ended"));
  EXPECT_TRUE(b->got("room.game_ended"));
  const auto ticks_at_end = ticks_run(*counters);
  EXPECT_LE(ticks_at_end, 30u);
  // Over: no tick is armed any more.
  sched->advance(1000ms, drain);
  EXPECT_EQ(ticks_run(*counters), ticks_at_end);
}

}  // namespace
}  // namespace maratang::modes
