// The LLM client against the fake OpenAI server over real loopback sockets: whole and streamed
// replies, timeouts, retries, broken streams, the concurrency limit, the breaker, cancellation.
// Timing checks are generous upper bounds (a busy 2-core machine), never tight lower bounds
// except where a timeout must not fire early.
#include "llm/openai_client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "llm/fake_openai_server.hpp"

namespace maratang::llm {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// An io_context running on its own thread for the test's lifetime.
struct io_runner {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread{[this] { ioc.run(); }};
  ~io_runner() {
    work.reset();
    ioc.stop();
    thread.join();
  }
};

// Collects one call's callbacks.
struct probe {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> tokens;
  std::optional<call_result> result;
  int done_calls = 0;
  bool token_after_done = false;
  steady::time_point started = steady::now();
  steady::time_point finished{};

  std::chrono::milliseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(finished - started);
  }
  bool wait(std::chrono::milliseconds d = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, d, [&] { return result.has_value(); });
  }
  std::string joined() {
    std::lock_guard l(mu);
    std::string s;
    for (const auto& t : tokens)
      s += t;
    return s;
  }
};

call_handle start(client& c, const std::shared_ptr<probe>& p, chat_request r) {
  p->started = steady::now();
  return c.complete(
      std::move(r),
      [p](std::string_view d) {
        std::lock_guard l(p->mu);
        if (p->done_calls > 0) p->token_after_done = true;
        p->tokens.emplace_back(d);
      },
      [p](call_result res) {
        std::lock_guard l(p->mu);
        p->finished = steady::now();
        ++p->done_calls;
        p->result = std::move(res);
        p->cv.notify_all();
      });
}

chat_request hello(bool stream = true) {
  chat_request r;
  r.model = "qwen-test";
  r.messages.push_back({"system", "You narrate."});
  r.messages.push_back({"user", "Look around."});
  r.max_tokens = 50;
  r.temperature = 0.5;
  r.stream = stream;
  return r;
}

client_options fast_options() {
  client_options o;
  o.connect_timeout_ms = 1000;
  o.first_token_timeout_ms = 2000;
  o.idle_timeout_ms = 2000;
  o.total_timeout_ms = 5000;
  o.max_retries = 2;
  o.backoff_base_ms = 10;
  o.backoff_max_ms = 40;
  return o;
}

// Polls cond for up to d.
template <class F>
bool eventually(F cond, std::chrono::milliseconds d = 3s) {
  auto until = steady::now() + d;
  while (steady::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

TEST(LlmClient, NonStreamedReply) {
  fake_openai_server server;
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello(false));
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->result->value().text, "Hello, world");
  EXPECT_EQ(p->result->value().finish_reason, "stop");
  EXPECT_EQ(p->result->value().attempts, 1);
  EXPECT_TRUE(p->tokens.empty());  // no deltas when not streaming

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].header("Authorization"), "");  // no key, no header
  const auto& body = reqs[0].json.as_object();
  EXPECT_EQ(body.at("stream").as_bool(), false);
  EXPECT_EQ(body.at("max_tokens").as_int64(), 50);
  EXPECT_DOUBLE_EQ(body.at("temperature").as_double(), 0.5);
  ASSERT_EQ(body.at("messages").as_array().size(), 2u);
  EXPECT_EQ(body.at("messages").as_array()[1].at("role").as_string(), "user");
  EXPECT_EQ(body.at("messages").as_array()[1].at("content").as_string(), "Look around.");
  auto s = c.get_stats();
  EXPECT_EQ(s.calls, 1u);
  EXPECT_EQ(s.ok, 1u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.in_flight, 0);
}

TEST(LlmClient, StreamedReplyDeliversTokensInOrder) {
  fake_openai_server server;
  std::vector<std::string> script = {"The ", "door ", "creaks", " open", "."};
  server.set_behaviour(
      [script](std::size_t, const fake_request&) { return fake_script::reply(script, 0ms, 5ms); });
  io_runner io;
  client c(io.ioc, {server.base_url(), "sekrit"}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->tokens, script);
  EXPECT_EQ(p->joined(), p->result->value().text);
  EXPECT_EQ(p->result->value().text, "The door creaks open.");
  EXPECT_EQ(p->result->value().finish_reason, "stop");

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer sekrit");
  EXPECT_EQ(reqs[0].json.at("model").as_string(), "qwen-test");
  EXPECT_EQ(reqs[0].json.at("stream").as_bool(), true);
  // The fake wrote every token, in order.
  auto writes = server.token_writes();
  ASSERT_EQ(writes.size(), script.size());
  for (std::size_t i = 0; i < writes.size(); ++i)
    EXPECT_EQ(writes[i].token, i);
}

TEST(LlmClient, EventsSplitAcrossReadsAreReassembled) {
  fake_openai_server server;
  std::vector<std::string> script = {"Ünïcödé ", "split ", "{\"json\"} ", "data: [DONE]"};
  server.set_behaviour([script](std::size_t, const fake_request&) {
    auto sc = fake_script::reply(script);
    sc.split_events = true;
    return sc;
  });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->tokens, script);  // a token that reads "data: [DONE]" is content, not the end
  EXPECT_EQ(p->result->value().text, "Ünïcödé split {\"json\"} data: [DONE]");
}

TEST(LlmClient, StreamRequestAnsweredWithJsonGivesOneDelta) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) {
    auto sc = fake_script::reply({"whole ", "reply"});
    sc.stream = false;
    sc.finish_reason = "length";
    return sc;
  });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello(true));
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->tokens, std::vector<std::string>{"whole reply"});
  EXPECT_EQ(p->result->value().text, "whole reply");
  EXPECT_EQ(p->result->value().finish_reason, "length");
}

TEST(LlmClient, StreamWithoutTokenCallbackStillCompletes) {
  fake_openai_server server;
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  std::promise<call_result> done;
  c.complete(hello(), nullptr, [&done](call_result r) { done.set_value(std::move(r)); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  auto r = f.get();
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r.value().text, "Hello, world");
}

TEST(LlmClient, MalformedRepliesAreBadResponseAndNotRetried) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t i, const fake_request&) {
    return i == 0 ? fake_script::raw("application/json", "<html>not json</html>")
                  : fake_script::raw("application/json", R"({"choices":[]})");
  });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello(false));
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::bad_response) << p->result->error().detail;
  EXPECT_EQ(server.request_count(), 1u);
  auto q = std::make_shared<probe>();
  start(c, q, hello(false));
  ASSERT_TRUE(q->wait());
  ASSERT_FALSE(q->result->has_value());
  EXPECT_EQ(q->result->error().kind, failure::bad_response) << q->result->error().detail;
  EXPECT_EQ(server.request_count(), 2u);
  // A bad event in a stream too.
  server.set_behaviour([](std::size_t, const fake_request&) {
    return fake_script::raw("text/event-stream",
                            "data: {\"choices\":[{\"delta\":{\"content\":"
                            "\"ok\"}}]}\n\ndata: {oops\n\n");
  });
  auto r = std::make_shared<probe>();
  start(c, r, hello(true));
  ASSERT_TRUE(r->wait());
  ASSERT_FALSE(r->result->has_value());
  EXPECT_EQ(r->result->error().kind, failure::bad_response) << r->result->error().detail;
  EXPECT_EQ(r->result->error().partial_text, "ok");
  EXPECT_EQ(server.request_count(), 3u);
}

TEST(LlmClient, ConnectionRefusedIsRetriedThenFailsWithConnect) {
  int port = 0;
  {
    fake_openai_server gone;  // a port that was just free and is now closed
    port = gone.port();
  }
  io_runner io;
  client c(io.ioc, {"http://127.0.0.1:" + std::to_string(port), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::connect) << p->result->error().detail;
  EXPECT_EQ(p->result->error().attempts, 3);
}

TEST(LlmClient, BaseUrlWithOrWithoutV1PostsToOnePath) {
  fake_openai_server server;
  io_runner io;
  for (std::string suffix : {"", "/", "/v1", "/v1/", "/proxy"}) {
    client c(io.ioc, {server.base_url() + suffix, ""}, fast_options());
    auto p = std::make_shared<probe>();
    start(c, p, hello());
    ASSERT_TRUE(p->wait());
    ASSERT_TRUE(p->result->has_value()) << suffix << ": " << p->result->error().detail;
  }
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[1].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[2].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[3].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[4].target, "/proxy/v1/chat/completions");
}

TEST(LlmClient, BadBaseUrlIsRejected) {
  EXPECT_TRUE(check_base_url("http://127.0.0.1:8000"));
  EXPECT_TRUE(check_base_url("http://vllm.local/v1"));
  EXPECT_TRUE(check_base_url("https://gpu.example.net/v1"));
  EXPECT_TRUE(check_base_url("https://10.0.0.7:8443"));
  for (const char* bad :
       {"", "127.0.0.1:8000", "ftp://h/", "http://h/?q=1", "https://h/#f", "http://:80/"}) {
    auto r = check_base_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, errc::bad_field) << bad;
  }
  // A client with a bad URL fails each call with connect, and says why.
  io_runner io;
  client c(io.ioc, {"ftp://nope.example", ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::connect);
  EXPECT_NE(p->result->error().detail.find("http://"), std::string::npos);
}

TEST(LlmClient, SlowFirstTokenWithinTimeoutSucceeds) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) {
    return fake_script::reply({"late", " but fine"}, 150ms, 0ms);
  });
  io_runner io;
  auto o = fast_options();
  o.first_token_timeout_ms = 2000;
  client c(io.ioc, {server.base_url(), ""}, o);
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->result->value().text, "late but fine");
  EXPECT_EQ(p->result->value().attempts, 1);
}

TEST(LlmClient, SlowFirstTokenBeyondTimeoutTimesOutAndRetries) {
  fake_openai_server server;
  // The role chunk comes at once (as with vLLM); the first content only after 3 s.
  server.set_behaviour([](std::size_t, const fake_request&) {
    return fake_script::reply({"too late"}, 3000ms, 0ms);
  });
  io_runner io;
  auto o = fast_options();
  o.first_token_timeout_ms = 150;
  o.max_retries = 1;
  client c(io.ioc, {server.base_url(), ""}, o);
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::timeout);
  EXPECT_EQ(p->result->error().attempts, 2);
  EXPECT_EQ(server.request_count(), 2u);
  EXPECT_GE(p->elapsed(), 300ms);   // two attempts, each waited its full first-token timeout
  EXPECT_LT(p->elapsed(), 2500ms);  // and not for the token
  EXPECT_EQ(c.get_stats().timeouts, 1u);
  EXPECT_EQ(c.get_stats().retries, 1u);
}

TEST(LlmClient, Http500IsRetriedThenFails) {
  fake_openai_server server;
  server.set_behaviour(
      [](std::size_t, const fake_request&) { return fake_script::error(500, "model exploded"); });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  const auto& e = p->result->error();
  EXPECT_EQ(e.kind, failure::http_status);
  EXPECT_EQ(e.http_status, 500);
  EXPECT_EQ(e.attempts, 3);
  EXPECT_NE(e.detail.find("model exploded"), std::string::npos) << e.detail;
  EXPECT_EQ(server.request_count(), 3u);  // 1 + max_retries
  EXPECT_EQ(c.get_stats().retries, 2u);
}

TEST(LlmClient, ClientErrorStatusIsNotRetried) {
  fake_openai_server server;
  server.set_behaviour(
      [](std::size_t, const fake_request&) { return fake_script::error(400, "no such model"); });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().http_status, 400);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(LlmClient, Http500ThenSuccessRecovers) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t i, const fake_request&) {
    return i == 0 ? fake_script::error(503) : fake_script::reply({"ok"});
  });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->result->value().text, "ok");
  EXPECT_EQ(p->result->value().attempts, 2);
  EXPECT_EQ(server.request_count(), 2u);
}

TEST(LlmClient, BrokenStreamAfterTokensIsNotRetried) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) {
    return fake_script::broken({"one ", "two ", "three"}, 2, 5ms);
  });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  const auto& e = p->result->error();
  EXPECT_EQ(e.kind, failure::broken_stream) << e.detail;
  EXPECT_EQ(e.partial_text, "one two ");
  EXPECT_EQ(p->joined(), "one two ");
  EXPECT_EQ(e.attempts, 1);
  EXPECT_EQ(server.request_count(), 1u);  // tokens were delivered: no retry
}

TEST(LlmClient, BrokenStreamBeforeAnyTokenIsRetried) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t i, const fake_request&) {
    return i == 0 ? fake_script::broken({"lost"}, 0) : fake_script::reply({"second ", "try"});
  });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->result->value().text, "second try");
  EXPECT_EQ(p->joined(), "second try");
  EXPECT_EQ(p->result->value().attempts, 2);
}

TEST(LlmClient, HangTimesOutWithinBounds) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) { return fake_script::hang(); });
  io_runner io;
  auto o = fast_options();
  o.first_token_timeout_ms = 200;
  o.max_retries = 0;
  client c(io.ioc, {server.base_url(), ""}, o);
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::timeout);
  EXPECT_GE(p->elapsed(), 200ms);
  EXPECT_LT(p->elapsed(), 2000ms);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(LlmClient, TotalTimeoutBoundsTheWholeCall) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) { return fake_script::hang(); });
  io_runner io;
  auto o = fast_options();
  o.first_token_timeout_ms = 10000;
  o.total_timeout_ms = 250;
  client c(io.ioc, {server.base_url(), ""}, o);
  auto p = std::make_shared<probe>();
  start(c, p, hello(false));
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::timeout);
  EXPECT_NE(p->result->error().detail.find("total timeout"), std::string::npos)
      << p->result->error().detail;
  EXPECT_EQ(p->result->error().attempts, 1);  // no retry once the deadline has passed
  EXPECT_EQ(server.request_count(), 1u);
  EXPECT_GE(p->elapsed(), 250ms);
  EXPECT_LT(p->elapsed(), 2000ms);
}

TEST(LlmClient, IdleTimeoutBetweenTokens) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) {
    return fake_script::reply({"first", "stalled"}, 0ms, 3000ms);
  });
  io_runner io;
  auto o = fast_options();
  o.idle_timeout_ms = 150;
  client c(io.ioc, {server.base_url(), ""}, o);
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::timeout);
  EXPECT_EQ(p->result->error().partial_text, "first");
  EXPECT_LT(p->elapsed(), 2500ms);
  EXPECT_EQ(server.request_count(), 1u);  // a token was delivered: no retry
}

TEST(LlmClient, ConcurrencyLimitQueuesAndRejectsBeyondTheQueue) {
  fake_openai_server server;
  server.set_behaviour(
      [](std::size_t, const fake_request&) { return fake_script::reply({"slow"}, 150ms, 0ms); });
  io_runner io;
  auto o = fast_options();
  o.max_concurrency = 2;
  o.max_queue = 3;
  client c(io.ioc, {server.base_url(), ""}, o);
  std::vector<std::shared_ptr<probe>> probes;
  for (int i = 0; i < 6; ++i) {
    probes.push_back(std::make_shared<probe>());
    start(c, probes.back(), hello());
  }
  // The sixth found two on the wire and three queued.
  ASSERT_TRUE(probes[5]->wait());
  ASSERT_FALSE(probes[5]->result->has_value());
  EXPECT_EQ(probes[5]->result->error().kind, failure::queue_full);
  EXPECT_EQ(probes[5]->result->error().attempts, 0);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(probes[i]->wait()) << i;
    ASSERT_TRUE(probes[i]->result->has_value()) << i << ": " << probes[i]->result->error().detail;
    EXPECT_EQ(probes[i]->result->value().text, "slow");
  }
  EXPECT_EQ(server.request_count(), 5u);
  EXPECT_LE(server.max_active(), 2);
  EXPECT_EQ(server.max_active(), 2);  // and the limit was used
  auto s = c.get_stats();
  EXPECT_EQ(s.ok, 5u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.queued, 0);
}

TEST(LlmClient, QueuedCallTimesOutWhileWaiting) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) { return fake_script::hang(); });
  io_runner io;
  auto o = fast_options();
  o.max_concurrency = 1;
  o.max_retries = 0;
  o.first_token_timeout_ms = 3000;
  o.total_timeout_ms = 3000;
  client c(io.ioc, {server.base_url(), ""}, o);
  auto first = std::make_shared<probe>();
  auto waiting = std::make_shared<probe>();
  auto holder = start(c, first, hello());
  auto short_call = hello();
  short_call.total_timeout_ms = 200;  // shorter than the call holding the only slot
  start(c, waiting, short_call);
  ASSERT_TRUE(waiting->wait());
  ASSERT_FALSE(waiting->result->has_value());
  EXPECT_EQ(waiting->result->error().kind, failure::timeout);
  EXPECT_EQ(waiting->result->error().attempts, 0);  // it never left the queue
  EXPECT_GE(waiting->elapsed(), 200ms);
  EXPECT_LT(waiting->elapsed(), 2000ms);
  {
    std::lock_guard l(first->mu);
    EXPECT_FALSE(first->result.has_value());  // the slot holder is still waiting
  }
  holder.cancel();
  ASSERT_TRUE(first->wait());
  EXPECT_EQ(first->result->error().kind, failure::cancelled);
  EXPECT_EQ(server.request_count(), 1u);
  EXPECT_EQ(c.get_stats().timeouts, 1u);
}

TEST(LlmClient, BreakerOpensFailsFastHalfOpensAndClosesOnProbe) {
  fake_openai_server server;
  std::atomic<bool> healthy{false};
  server.set_behaviour([&healthy](std::size_t, const fake_request&) {
    return healthy ? fake_script::reply({"back"}, 150ms, 0ms) : fake_script::error(500);
  });
  io_runner io;
  auto o = fast_options();
  o.max_retries = 0;
  o.breaker_failures = 3;
  o.breaker_open_ms = 200;
  client c(io.ioc, {server.base_url(), ""}, o);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.breaker(), client::breaker_state::closed);
    auto p = std::make_shared<probe>();
    start(c, p, hello());
    ASSERT_TRUE(p->wait());
    ASSERT_FALSE(p->result->has_value());
    EXPECT_EQ(p->result->error().kind, failure::http_status);
  }
  EXPECT_EQ(c.breaker(), client::breaker_state::open);
  auto rejected = std::make_shared<probe>();
  start(c, rejected, hello());
  ASSERT_TRUE(rejected->wait());
  ASSERT_FALSE(rejected->result->has_value());
  EXPECT_EQ(rejected->result->error().kind, failure::breaker_open);
  EXPECT_EQ(server.request_count(), 3u);  // failed fast, never reached the server
  EXPECT_EQ(c.get_stats().breaker_rejections, 1u);

  // After the open time: half-open, one probe at a time.
  ASSERT_TRUE(eventually([&] { return c.breaker() == client::breaker_state::half_open; }));
  healthy = true;
  auto probe_call = std::make_shared<probe>();
  auto second = std::make_shared<probe>();
  start(c, probe_call, hello());
  start(c, second, hello());
  ASSERT_TRUE(second->wait());
  ASSERT_FALSE(second->result->has_value());
  EXPECT_EQ(second->result->error().kind, failure::breaker_open);  // the probe is out
  ASSERT_TRUE(probe_call->wait());
  ASSERT_TRUE(probe_call->result->has_value()) << probe_call->result->error().detail;
  EXPECT_EQ(c.breaker(), client::breaker_state::closed);
  EXPECT_EQ(server.request_count(), 4u);

  auto after = std::make_shared<probe>();
  start(c, after, hello());
  ASSERT_TRUE(after->wait());
  EXPECT_TRUE(after->result->has_value());
}

TEST(LlmClient, BreakerReopensWhenTheProbeFails) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) { return fake_script::error(502); });
  io_runner io;
  auto o = fast_options();
  o.max_retries = 0;
  o.breaker_failures = 2;
  o.breaker_open_ms = 150;
  client c(io.ioc, {server.base_url(), ""}, o);
  for (int i = 0; i < 2; ++i) {
    auto p = std::make_shared<probe>();
    start(c, p, hello());
    ASSERT_TRUE(p->wait());
  }
  EXPECT_EQ(c.breaker(), client::breaker_state::open);
  ASSERT_TRUE(eventually([&] { return c.breaker() == client::breaker_state::half_open; }));
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  EXPECT_EQ(p->result->error().kind, failure::http_status);  // the probe reached the server
  EXPECT_EQ(server.request_count(), 3u);
  EXPECT_EQ(c.breaker(), client::breaker_state::open);
  auto q = std::make_shared<probe>();
  start(c, q, hello());
  ASSERT_TRUE(q->wait());
  EXPECT_EQ(q->result->error().kind, failure::breaker_open);
  EXPECT_EQ(server.request_count(), 3u);
}

TEST(LlmClient, CancelMidCallReportsCancelled) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) { return fake_script::hang(); });
  io_runner io;
  client c(io.ioc, {server.base_url(), ""}, fast_options());
  auto p = std::make_shared<probe>();
  auto h = start(c, p, hello());
  ASSERT_TRUE(eventually([&] { return server.request_count() == 1; }));
  h.cancel();
  ASSERT_TRUE(p->wait(2s));
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::cancelled);
  EXPECT_EQ(server.request_count(), 1u);  // cancelled calls are not retried
  h.cancel();                             // a no-op once done
  std::this_thread::sleep_for(20ms);
  {
    std::lock_guard l(p->mu);
    EXPECT_EQ(p->done_calls, 1);
  }
  EXPECT_EQ(c.get_stats().in_flight, 0);
}

// The whole wait for a first token is bounded across attempts: a hanging server (8 s per attempt,
// two retries) fails the call in about the wait, not 24 s; a token within it, followed by slow
// ones, is not cut by it.
TEST(LlmClient, FirstTokenWaitBoundsEveryAttemptTogether) {
  fake_openai_server server;
  std::atomic<int> mode{0};
  server.set_behaviour([&](std::size_t, const fake_request&) {
    if (mode == 0) return fake_script::hang();
    return fake_script::reply({"slow ", "but ", "sure"}, 200ms, 400ms);
  });
  io_runner io;
  auto o = fast_options();
  o.first_token_timeout_ms = 8000;
  o.total_timeout_ms = 30000;
  o.max_retries = 2;
  client c(io.ioc, {server.base_url(), ""}, o);
  auto r = hello();
  r.first_token_wait_ms = 600;
  auto p = std::make_shared<probe>();
  start(c, p, r);
  ASSERT_TRUE(p->wait(10s));
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::timeout);
  EXPECT_NE(p->result->error().detail.find("no first token within 600 ms"), std::string::npos)
      << p->result->error().detail;
  EXPECT_GE(p->elapsed(), 590ms);
  EXPECT_LT(p->elapsed(), 2500ms);
  mode = 1;
  p = std::make_shared<probe>();
  start(c, p, r);
  ASSERT_TRUE(p->wait(10s));
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(p->result->value().text, "slow but sure");
  EXPECT_GE(p->elapsed(), 900ms);  // past the wait: only the first token is bounded by it
}

// --- Keep-alive and TLS ------------------------------------------------------------------------

// Calls one after another share one kept-alive connection; a broken stream drops its connection
// and the next call opens a new one.
TEST(LlmClient, ConnectionsAreKeptAliveBetweenCalls) {
  fake_openai_server server;
  std::atomic<bool> broken{false};
  server.set_behaviour([&](std::size_t, const fake_request&) {
    return broken ? fake_script::broken({"half"}, 1) : fake_script::reply({"a", "b"});
  });
  io_runner io;
  auto o = fast_options();
  o.max_retries = 0;
  client c(io.ioc, {server.base_url(), ""}, o);
  for (int i = 0; i < 3; ++i) {
    auto p = std::make_shared<probe>();
    start(c, p, hello(i != 1));  // streamed, whole, streamed
    ASSERT_TRUE(p->wait());
    ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
    EXPECT_EQ(p->result->value().text, "ab");
  }
  EXPECT_EQ(server.request_count(), 3u);
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(c.get_stats().connections, 1u);
  EXPECT_EQ(server.requests()[0].header("connection"), "keep-alive");
  broken = true;
  auto p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_FALSE(p->result->has_value());
  EXPECT_EQ(p->result->error().kind, failure::broken_stream);
  broken = false;
  p = std::make_shared<probe>();
  start(c, p, hello());
  ASSERT_TRUE(p->wait());
  ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
  EXPECT_EQ(server.connections(), 2u);
}

// A self-signed certificate for the fake, made at test time with the openssl command line, valid
// for `san` (e.g. "DNS:localhost,IP:127.0.0.1"); the files are removed with the object.
struct test_certificate {
  std::filesystem::path dir;
  std::string cert, key;
  explicit test_certificate(const std::string& san) {
    static std::atomic<int> n{0};
    dir = std::filesystem::temp_directory_path() /
          fmt::format("maratang-llm-tls-{}-{}", ::getpid(), n++);
    std::filesystem::create_directories(dir);
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    auto cmd = fmt::format(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=fake-llm -addext subjectAltName={} -keyout '{}' -out '{}' >/dev/null 2>&1",
        san, key, cert);
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  ~test_certificate() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// https with the certificate verified against a CA file, by IP address and by host name (SNI),
// and the TLS connection kept alive: one handshake for several calls.
TEST(LlmClient, HttpsWithAVerifiedCertificateAndOneConnection) {
  test_certificate cert("DNS:localhost,IP:127.0.0.1");
  fake_openai_server server(fake_tls{cert.cert, cert.key});
  ASSERT_EQ(server.base_url().rfind("https://127.0.0.1:", 0), 0u);
  io_runner io;
  auto o = fast_options();
  o.ca_file = cert.cert;
  for (std::string host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    client c(io.ioc, {server.base_url(host), "k"}, o);
    for (int i = 0; i < 3; ++i) {
      auto p = std::make_shared<probe>();
      start(c, p, hello());
      ASSERT_TRUE(p->wait());
      ASSERT_TRUE(p->result->has_value()) << p->result->error().detail;
      EXPECT_EQ(p->result->value().text, "Hello, world");
    }
    EXPECT_EQ(c.get_stats().connections, 1u);
  }
  EXPECT_EQ(server.connections(), 2u);  // one per client, each serving three calls
  EXPECT_EQ(server.request_count(), 6u);
  EXPECT_EQ(server.requests()[0].header("authorization"), "Bearer k");
  EXPECT_EQ(server.tls_failures(), 0u);
}

// Verification is on by default: a certificate no trusted authority signed, or one for another
// name, fails the call with failure::tls and says why, without retrying and without the request
// reaching the server.
TEST(LlmClient, HttpsRefusesAnUntrustedOrMisnamedCertificate) {
  io_runner io;
  auto expect_refused = [&](const std::string& url, const std::string& ca, std::string_view why) {
    SCOPED_TRACE(url + " " + std::string(why));
    auto o = fast_options();
    o.ca_file = ca;
    client c(io.ioc, {url, ""}, o);
    auto p = std::make_shared<probe>();
    start(c, p, hello());
    ASSERT_TRUE(p->wait());
    ASSERT_FALSE(p->result->has_value());
    EXPECT_EQ(p->result->error().kind, failure::tls);
    EXPECT_EQ(p->result->error().attempts, 1);
    EXPECT_NE(p->result->error().detail.find(why), std::string::npos) << p->result->error().detail;
  };
  {
    test_certificate cert("DNS:localhost,IP:127.0.0.1");
    fake_openai_server server(fake_tls{cert.cert, cert.key});
    expect_refused(server.base_url(), "", "self-signed certificate");  // the system's CAs only
    EXPECT_EQ(server.request_count(), 0u);
  }
  {
    test_certificate other("DNS:gpu.example.net");
    fake_openai_server server(fake_tls{other.cert, other.key});
    expect_refused(server.base_url(), other.cert, "IP address mismatch");
    expect_refused(server.base_url("localhost"), other.cert, "hostname mismatch");
    EXPECT_EQ(server.request_count(), 0u);
    EXPECT_TRUE(eventually([&] { return server.tls_failures() == 2; }));
  }
  // An unusable CA file is refused at start-up by check_ca_file, and by each call.
  EXPECT_TRUE(check_ca_file(""));
  auto bad = check_ca_file("/nonexistent/ca.pem");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::bad_field);
  EXPECT_NE(bad.error().message.find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(LlmClient, DestroyingTheClientMidCallIsSafeAndSilent) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) {
    return fake_script::reply({"a", "b", "c", "d"}, 0ms, 100ms);
  });
  io_runner io;
  auto o = fast_options();
  o.max_concurrency = 2;
  auto c = std::make_unique<client>(io.ioc, endpoint{server.base_url(), ""}, o);
  std::vector<std::shared_ptr<probe>> probes;
  for (int i = 0; i < 4; ++i) {  // two on the wire, two queued
    probes.push_back(std::make_shared<probe>());
    start(*c, probes.back(), hello());
  }
  ASSERT_TRUE(eventually([&] { return !probes[0]->joined().empty(); }));
  c.reset();
  std::this_thread::sleep_for(300ms);
  for (auto& p : probes) {
    std::lock_guard l(p->mu);
    EXPECT_EQ(p->done_calls, 0);
  }
  EXPECT_LE(server.request_count(), 2u);  // the queued calls never started
}

TEST(LlmClient, DestroyingTheClientFromItsOwnCallbackIsSafe) {
  fake_openai_server server;
  server.set_behaviour([](std::size_t, const fake_request&) {
    return fake_script::reply({"x", "y", "z"}, 0ms, 20ms);
  });
  io_runner io;
  auto c = std::make_unique<client>(io.ioc, endpoint{server.base_url(), ""}, fast_options());
  std::mutex mu;
  std::condition_variable cv;
  int tokens = 0;
  bool destroyed = false;
  bool done_called = false;
  c->complete(
      hello(),
      [&](std::string_view) {
        std::lock_guard l(mu);
        ++tokens;
        c.reset();  // from inside the client's own callback
        destroyed = true;
        cv.notify_all();
      },
      [&](call_result) {
        std::lock_guard l(mu);
        done_called = true;
      });
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, 3s, [&] { return destroyed; }));
  }
  std::this_thread::sleep_for(200ms);
  std::lock_guard l(mu);
  EXPECT_EQ(tokens, 1);
  EXPECT_FALSE(done_called);
}

}  // namespace
}  // namespace maratang::llm
