// The Redis client against a real redis-server (Debian's, started by scripts/redis_temp.sh in a
// temporary directory, on a free loopback port): replies of every kind, binary-safe values,
// pipelined order from several threads, a timeout, the server killed and started again (clear
// errors, then reconnection by itself), publish/subscribe across a restart, database selection;
// and the failed-login back-off kept in Redis (shared_limit.hpp), held to backoff_limiter's rules.
#include "redis/client.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "redis/shared_limit.hpp"

#include "redis/test_server.hpp"

namespace maratang::redis {
namespace {

using namespace std::chrono_literals;

// One redis-server for the suite, and an io_context on a thread of its own.
class RedisClient : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::test_server(MARATANG_SOURCE_DIR);
    url_ = server_->url();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  RedisClient() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~RedisClient() override {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  std::shared_ptr<client> open(options o = {}) {
    EXPECT_TRUE(parse_url(url_, o));
    auto c = client::start(io_, o);
    EXPECT_TRUE(eventually([&] { return c->connected(); }, 5s)) << "no connection to " << url_;
    return c;
  }

  // The command's outcome, waited for.
  static result<reply> call(client& c, std::vector<std::string> args) {
    std::promise<result<reply>> p;
    auto f = p.get_future();
    c.command(std::move(args), [&p](result<reply> r) { p.set_value(std::move(r)); });
    if (f.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "no completion in 10 s";
      return error{errc::internal, "no completion"};
    }
    return f.get();
  }

  static bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds within) {
    const auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      if (ok()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return ok();
  }

  static testing::test_server* server_;
  static std::string url_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

testing::test_server* RedisClient::server_ = nullptr;
std::string RedisClient::url_;

TEST(RedisUrl, reads_host_port_password_and_database_and_refuses_the_rest) {
  options o;
  ASSERT_TRUE(parse_url("redis://127.0.0.1:7000/3", o));
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.db, 3);
  EXPECT_EQ(o.password, "");
  ASSERT_TRUE(parse_url("redis://:s%40cret@cache.internal", o));
  EXPECT_EQ(o.host, "cache.internal");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.password, "s@cret");
  EXPECT_EQ(o.db, 0);
  for (const char* bad : {"http://127.0.0.1", "redis://", "redis://h:0", "redis://h/x",
                          "redis://h/-1", "127.0.0.1:6379"}) {
    auto r = parse_url(bad, o);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, errc::bad_field) << bad;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST_F(RedisClient, replies_of_every_kind_and_binary_safe_values) {
  auto c = open();
  const std::string key = "k:" + std::to_string(::getpid());
  const std::string value("a\0b\r\nc", 6);
  auto set = call(*c, {"SET", key, value});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->type, reply::kind::status);
  EXPECT_EQ(set->str, "OK");
  auto get = call(*c, {"GET", key});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->type, reply::kind::string);
  EXPECT_EQ(get->str, value);
  EXPECT_TRUE(call(*c, {"GET", key + ":absent"})->is_nil());
  auto incr = call(*c, {"INCRBY", key + ":n", "41"});
  ASSERT_TRUE(incr);
  EXPECT_EQ(incr->type, reply::kind::integer);
  EXPECT_EQ(incr->integer, 41);
  // Redis refusing a command is a reply, not a failure: the connection goes on.
  auto bad = call(*c, {"INCR", key});
  ASSERT_TRUE(bad);
  EXPECT_TRUE(bad->is_error());
  EXPECT_NE(bad->str.find("not an integer"), std::string::npos) << bad->str;
  ASSERT_TRUE(call(*c, {"RPUSH", key + ":l", "x", "", "z"}));
  auto list = call(*c, {"LRANGE", key + ":l", "0", "-1"});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->type, reply::kind::array);
  ASSERT_EQ(list->elements.size(), 3u);
  EXPECT_EQ(list->elements[1].str, "");
  EXPECT_EQ(list->elements[2].str, "z");
  // A value larger than one read.
  const std::string big(1 << 20, 'v');
  ASSERT_TRUE(call(*c, {"SET", key + ":big", big}));
  EXPECT_EQ(call(*c, {"GET", key + ":big"})->str, big);
  auto empty = call(*c, {});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, errc::bad_field);
  EXPECT_EQ(c->stats().failed, 0u);
}

// Commands from several threads at once, none waiting for the last: each thread's replies come
// in the order it sent its commands, and none is lost.
TEST_F(RedisClient, pipelined_commands_from_several_threads_keep_each_threads_order) {
  auto c = open();
  const std::string key = "ctr:" + std::to_string(::getpid());
  call(*c, {"DEL", key});
  constexpr int threads = 4, each = 2500;
  std::mutex mu;
  std::vector<std::vector<std::int64_t>> seen(threads);
  std::atomic<int> done{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        c->command({"INCR", key}, [&, t](result<reply> r) {
          std::lock_guard lk(mu);
          seen[t].push_back(r ? r->integer : -1);
          ++done;
        });
      }
    });
  }
  for (auto& t : ts)
    t.join();
  ASSERT_TRUE(eventually([&] { return done.load() == threads * each; }, 20s)) << done.load();
  std::set<std::int64_t> all;
  for (const auto& s : seen) {
    ASSERT_EQ(s.size(), static_cast<std::size_t>(each));
    for (std::size_t i = 1; i < s.size(); ++i)
      ASSERT_LT(s[i - 1], s[i]) << "a thread's replies out of order";
    all.insert(s.begin(), s.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(threads * each));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), threads * each);
}

// A command the server does not answer in time breaks the connection: it fails with
// `unavailable`, and the client connects again by itself.
TEST_F(RedisClient, a_command_not_answered_in_time_fails_and_the_client_reconnects) {
  options o;
  o.command_timeout_ms = 300;
  auto c = open(o);
  const auto t0 = std::chrono::steady_clock::now();
  auto blocked = call(*c, {"BLPOP", "nothing:" + std::to_string(::getpid()), "5"});
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, errc::unavailable);
  EXPECT_NE(blocked.error().message.find("not answered"), std::string::npos)
      << blocked.error().message;
  EXPECT_LT(took, 2s);
  ASSERT_TRUE(eventually([&] { return c->connected(); }, 5s));
  EXPECT_TRUE(call(*c, {"PING"}));
  EXPECT_GE(c->stats().connects, 2u);
}

// The server killed: commands fail at once with `unavailable` (nothing waits for it), and when
// it is back the client reconnects by itself; a subscriber subscribes again and hears what is
// published after.
TEST_F(RedisClient, server_down_gives_clear_errors_and_the_clients_come_back_by_themselves) {
  auto c = open();
  auto sub = open();
  // Shared with the handler, which the client's thread may still run after the test body ends.
  struct inbox {
    std::mutex mu;
    std::vector<std::string> heard;
  };
  auto box = std::make_shared<inbox>();
  std::mutex& mu = box->mu;
  std::vector<std::string>& heard = box->heard;
  sub->on_message([box](std::string_view ch, std::string_view payload) {
    std::lock_guard lk(box->mu);
    box->heard.push_back(std::string(ch) + "=" + std::string(payload));
  });
  const std::string ch = "news:" + std::to_string(::getpid());
  sub->subscribe(ch);
  auto heard_count = [&] {
    std::lock_guard lk(mu);
    return heard.size();
  };
  // A subscription takes effect when Redis has it: publish until it is heard.
  ASSERT_TRUE(eventually(
      [&] {
        call(*c, {"PUBLISH", ch, "first"});
        return heard_count() > 0;
      },
      5s));
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(heard.front(), ch + "=first");
    heard.clear();
  }
  // Numbered messages, in order (a "first" published twice by the loop above may still arrive
  // before them: it is left out).
  auto numbered = [&] {
    std::lock_guard lk(mu);
    std::vector<std::string> out;
    for (const auto& h : heard)
      if (h != ch + "=first") out.push_back(h);
    return out;
  };
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(call(*c, {"PUBLISH", ch, std::to_string(i)})->integer, 1);
  ASSERT_TRUE(eventually([&] { return numbered().size() == 5; }, 5s));
  EXPECT_EQ(numbered(),
            (std::vector<std::string>{ch + "=0", ch + "=1", ch + "=2", ch + "=3", ch + "=4"}));
  {
    std::lock_guard lk(mu);
    heard.clear();
  }

  server_->kill();
  ASSERT_TRUE(eventually([&] { return !c->connected() && !sub->connected(); }, 5s));
  const auto t0 = std::chrono::steady_clock::now();
  auto down = call(*c, {"PING"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);

  server_->up();
  ASSERT_TRUE(eventually([&] { return c->connected() && sub->connected(); }, 10s));
  EXPECT_TRUE(call(*c, {"PING"}));
  ASSERT_TRUE(eventually(
      [&] {
        call(*c, {"PUBLISH", ch, "again"});
        return heard_count() > 0;
      },
      5s))
      << "the subscriber did not subscribe again";
  EXPECT_GE(c->stats().disconnects, 1u);
  EXPECT_GE(sub->stats().messages, 7u);
}

// A subscriber is told it is up only once Redis has answered its subscriptions, on its first
// connection and after the server came back: a message published the moment it is first told so
// is heard (the cluster reads what it missed when told up, and would otherwise lose what falls
// between); and each `up` comes after the subscriber's replies of that connection.
TEST_F(RedisClient, a_subscriber_is_told_up_once_redis_has_its_subscriptions) {
  auto pub = open();
  struct seen {
    std::mutex mu;
    std::vector<std::string> heard;
    std::vector<std::uint64_t> replies_when_up;  // the subscriber's replies, at each `up`
  };
  auto box = std::make_shared<seen>();
  const std::string ch = "told:" + std::to_string(::getpid());
  options o;
  ASSERT_TRUE(parse_url(url_, o));
  auto sub = client::start(io_, o);
  // Weak: the handlers may run on the client's thread after the test body has ended.
  std::weak_ptr<client> weak_sub = sub, weak_pub = pub;
  sub->on_message([box](std::string_view, std::string_view payload) {
    std::lock_guard lk(box->mu);
    box->heard.emplace_back(payload);
  });
  sub->on_state([box, weak_sub, weak_pub, ch](bool up) {
    auto self = weak_sub.lock();
    if (!up || !self) return;
    std::size_t n = 0;
    {
      std::lock_guard lk(box->mu);
      box->replies_when_up.push_back(self->stats().commands);
      n = box->replies_when_up.size();
    }
    if (auto publisher = weak_pub.lock(); publisher && n == 1)
      publisher->command({"PUBLISH", ch, "up"}, {});
  });
  sub->subscribe(ch);
  auto heard = [&] {
    std::lock_guard lk(box->mu);
    return box->heard;
  };
  ASSERT_TRUE(eventually([&] { return heard().size() == 1; }, 5s))
      << "the message published when the subscriber was told up was not heard";
  EXPECT_EQ(heard().front(), "up");

  server_->kill();
  ASSERT_TRUE(eventually([&] { return !sub->connected(); }, 5s));
  server_->up();
  auto ups = [&] {
    std::lock_guard lk(box->mu);
    return box->replies_when_up;
  };
  ASSERT_TRUE(eventually([&] { return ups().size() == 2; }, 10s)) << "not told up again";
  EXPECT_GE(ups()[0], 1u) << "told up before Redis answered the subscription";
  EXPECT_GT(ups()[1], ups()[0]) << "told up again before Redis answered the subscription again";
}

TEST_F(RedisClient, the_urls_database_is_selected_on_every_connection) {
  options o;
  ASSERT_TRUE(parse_url(url_ + "/5", o));
  auto five = client::start(io_, o);
  ASSERT_TRUE(eventually([&] { return five->connected(); }, 5s));
  auto zero = open();
  const std::string key = "db:" + std::to_string(::getpid());
  ASSERT_TRUE(call(*five, {"SET", key, "five"}));
  EXPECT_TRUE(call(*zero, {"GET", key})->is_nil());
  EXPECT_EQ(call(*five, {"GET", key})->str, "five");
}

TEST_F(RedisClient, a_stopped_client_fails_at_once) {
  auto c = open();
  c->stop();
  ASSERT_TRUE(eventually([&] { return !c->connected(); }, 5s));
  auto r = call(*c, {"PING"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_NE(r.error().message.find("stopped"), std::string::npos);
}

// The server's last step: a command still unanswered when its io_context stopped holds a callback
// that owns the client (as the cluster's callbacks own the cluster, which owns its clients).
// abandon() fails it on the calling thread and lets it go, so the client is freed.
TEST_F(RedisClient, abandon_fails_what_is_still_in_flight_after_the_io_context_stopped) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  options o;
  ASSERT_TRUE(parse_url(url_, o));
  o.command_timeout_ms = 60'000;
  auto c = client::start(io, o);
  ASSERT_TRUE(eventually([&] { return c->connected(); }, 5s));
  std::weak_ptr<client> weak = c;
  std::promise<result<reply>> outcome;
  const std::string key = "never:" + std::to_string(::getpid());
  c->command({"BLPOP", key, "0"},
             [c, &outcome](result<reply> r) { outcome.set_value(std::move(r)); });
  c.reset();  // only the callback holds the client now
  // The BLPOP is on the wire: another connection sees it blocked.
  auto watcher = open();
  ASSERT_TRUE(eventually(
      [&] {
        auto list = call(*watcher, {"CLIENT", "LIST"});
        return list && list->str.find("cmd=blpop") != std::string::npos;
      },
      5s));
  work.reset();
  io.stop();
  runner.join();
  ASSERT_FALSE(weak.expired()) << "the unanswered command's callback keeps the client";
  weak.lock()->abandon();
  auto f = outcome.get_future();
  ASSERT_EQ(f.wait_for(0s), std::future_status::ready) << "abandon() completes it at once";
  auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_NE(r.error().message.find("stopped"), std::string::npos) << r.error().message;
  EXPECT_TRUE(weak.expired()) << "the callback was let go, and the client with it";
}

// redis::backoff_acquire counts and blocks as core::backoff_limiter does (3 free attempts, then
// a block of 50 ms doubling, the attempts while blocked not counted); forgive takes one failure
// back; reset forgets the key; the key expires once idle for the window.
TEST_F(RedisClient, a_shared_backoff_counts_and_blocks_as_the_local_one) {
  auto c = open();
  const backoff_rules rules{3, std::chrono::milliseconds(50), std::chrono::milliseconds(1000),
                            std::chrono::milliseconds(60000)};
  auto acquire = [&](const std::string& key) {
    std::promise<std::optional<std::chrono::milliseconds>> p;
    auto f = p.get_future();
    backoff_acquire(c, key, rules, [&p](auto w) { p.set_value(w); });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    auto w = f.get();
    EXPECT_TRUE(w.has_value()) << "Redis answered";
    return w.value_or(std::chrono::milliseconds(-1)).count();
  };
  const std::string key = "backoff:" + std::to_string(::getpid());
  EXPECT_EQ(acquire(key), 0);
  EXPECT_EQ(acquire(key), 0);
  EXPECT_EQ(acquire(key), 0) << "the third goes ahead and blocks for 50 ms";
  const auto w1 = acquire(key);
  EXPECT_GT(w1, 0);
  EXPECT_LE(w1, 50);
  EXPECT_GT(acquire(key), 0) << "still blocked; not counted";
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(acquire(key), 0) << "the fourth goes ahead, then blocks for 100 ms";
  const auto w2 = acquire(key);
  EXPECT_GT(w2, 50) << "the block doubled";
  EXPECT_LE(w2, 100);
  const auto ttl = call(*c, {"PTTL", key});
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 59000);
  EXPECT_LE(ttl->integer, 60100) << "expires once idle for the window after the block";

  // forgive: a success on the address side takes one failure back.
  const std::string other = key + ":forgiven";
  EXPECT_EQ(acquire(other), 0);
  EXPECT_EQ(acquire(other), 0);
  backoff_forgive(c, other);
  backoff_forgive(c, other + ":never-seen");  // a missing key stays missing
  EXPECT_EQ(acquire(other), 0) << "two counted, not three: no block";
  EXPECT_EQ(acquire(other), 0) << "now the third: blocks";
  EXPECT_GT(acquire(other), 0);
  EXPECT_TRUE(call(*c, {"EXISTS", other + ":never-seen"})->integer == 0);

  // reset: a successful login forgets the key and its block.
  backoff_reset(c, key);
  EXPECT_EQ(acquire(key), 0);
  EXPECT_EQ(acquire(key), 0);
}

}  // namespace
}  // namespace maratang::redis
