// When a room's timers, tick and seat graces fire (issue 13: a room's clock and ticks come from an
// injected scheduler, so that a test can step a room tick by tick). The server uses Asio's steady
// timers (asio_scheduler()); a test gives the lobby a manual_scheduler over a manual_clock (the
// clock the rooms read), and each advance() moves that clock and posts what falls due to its
// room's strand, in due order. Rooms read the time only from their clock, so a stepped room sees
// exactly the times it is stepped to.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace maratang {
class manual_clock;
}

namespace maratang::lobby {

// A call waiting for its time: destroying this cancels it (a call already posted is not).
class scheduled {
 public:
  virtual ~scheduled() = default;
};

class scheduler {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~scheduler() = default;
  // Calls `fn` on `ex` at `due` on the room clock's steady timeline (at once when it is past),
  // unless the returned object is destroyed first. Thread-safe.
  virtual std::unique_ptr<scheduled> at(const boost::asio::any_io_executor& ex, time_point due,
                                        std::function<void()> fn) = 0;
};

// Asio steady timers: the server's scheduler.
std::shared_ptr<scheduler> asio_scheduler();

// Fires only when told: advance() moves the clock forward, stopping at each due time on the way,
// where it posts that call to its executor and runs `drain` (io_context::poll, say), so that a
// call scheduled by a call (the next tick) is seen before the clock moves on.
class manual_scheduler final : public scheduler {
 public:
  explicit manual_scheduler(manual_clock& clk);
  std::unique_ptr<scheduled> at(const boost::asio::any_io_executor& ex, time_point due,
                                std::function<void()> fn) override;
  void advance(std::chrono::milliseconds d, const std::function<void()>& drain);
  // Calls waiting (not cancelled, not yet due).
  std::size_t pending() const;

 private:
  struct entry {
    boost::asio::any_io_executor ex;
    std::function<void()> fn;
  };
  struct state {
    std::mutex mu;
    // By due time, then by the order they were scheduled in (the id).
    std::map<std::pair<time_point, std::uint64_t>, entry> calls;
    std::uint64_t next = 1;
  };
  manual_clock& clk_;
  std::shared_ptr<state> st_;
};

}  // namespace maratang::lobby
