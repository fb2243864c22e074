#include "lobby/scheduler.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "util/clock.hpp"

namespace maratang::lobby {

namespace {

namespace asio = boost::asio;

class asio_timer final : public scheduled {
 public:
  asio_timer(const asio::any_io_executor& ex, scheduler::time_point due, std::function<void()> fn)
      : timer_(ex, due) {
    timer_.async_wait([fn = std::move(fn)](boost::system::error_code ec) {
      if (!ec) fn();
    });
  }
  ~asio_timer() override { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

class asio_scheduler_impl final : public scheduler {
 public:
  std::unique_ptr<scheduled> at(const asio::any_io_executor& ex, time_point due,
                                std::function<void()> fn) override {
    return std::make_unique<asio_timer>(ex, due, std::move(fn));
  }
};

}  // namespace

std::shared_ptr<scheduler> asio_scheduler() {
  static const auto instance = std::make_shared<asio_scheduler_impl>();
  return instance;
}

// --- manual
// ---------------------------------------------------------------------------------------

manual_scheduler::manual_scheduler(manual_clock& clk) : clk_(clk), st_(std::make_shared<state>()) {}

std::unique_ptr<scheduled> manual_scheduler::at(const asio::any_io_executor& ex, time_point due,
                                                std::function<void()> fn) {
  // The handle removes its call when destroyed first.
  class handle final : public scheduled {
   public:
    handle(std::weak_ptr<state> st, std::pair<time_point, std::uint64_t> key)
        : st_(std::move(st)), key_(key) {}
    ~handle() override {
      if (auto st = st_.lock()) {
        std::lock_guard g(st->mu);
        st->calls.erase(key_);
      }
    }

   private:
    std::weak_ptr<state> st_;
    std::pair<time_point, std::uint64_t> key_;
  };
  std::lock_guard g(st_->mu);
  const std::pair key{due, st_->next++};
  st_->calls.emplace(key, entry{ex, std::move(fn)});
  return std::make_unique<handle>(st_, key);
}

void manual_scheduler::advance(std::chrono::milliseconds d, const std::function<void()>& drain) {
  const time_point until = clk_.steady_now() + d;
  for (;;) {
    entry e;
    {
      std::lock_guard g(st_->mu);
      auto it = st_->calls.begin();
      if (it == st_->calls.end() || it->first.first > until) break;
      // The clock stops at the call's time (to the next whole millisecond: it counts in ms).
      const auto due = it->first.first;
      if (due > clk_.steady_now()) {
        clk_.advance(std::chrono::ceil<std::chrono::milliseconds>(due - clk_.steady_now()));
      }
      e = std::move(it->second);
      st_->calls.erase(it);
    }
    asio::post(e.ex, std::move(e.fn));
    drain();
  }
  if (until > clk_.steady_now()) {
    clk_.advance(std::chrono::duration_cast<std::chrono::milliseconds>(until - clk_.steady_now()));
  }
  drain();
}

std::size_t manual_scheduler::pending() const {
  std::lock_guard g(st_->mu);
  return st_->calls.size();
}

}  // namespace maratang::lobby
