#include "redis/client.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <deque>
#include <set>
#include <utility>

namespace maratang::redis {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

result<void> parse_url(std::string_view url, options& o) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "redis") {
    return error{errc::bad_field, "a Redis URL is redis://[:password@]host[:port][/db]"};
  }
  if (!u->has_authority() || u->encoded_host().empty()) {
    return error{errc::bad_field, "the Redis URL names no host"};
  }
  o.host = u->host();
  if (o.host.size() > 2 && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
  o.port = 6379;
  if (u->has_port()) {
    const auto p = u->port_number();
    if (p == 0) return error{errc::bad_field, "the Redis URL's port is not a port"};
    o.port = p;
  }
  o.password = u->has_password() ? std::string(u->password()) : std::string();
  o.db = 0;
  std::string path = u->path();
  if (!path.empty() && path != "/") {
    const std::string_view db = std::string_view(path).substr(1);
    int n = -1;
    const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), n);
    if (ec != std::errc{} || end != db.data() + db.size() || n < 0) {
      return error{errc::bad_field, "the Redis URL's path is a database number (/0, /1, ...)"};
    }
    o.db = n;
  }
  return {};
}

namespace {

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      out.type = reply::kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = reply::kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = reply::kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = reply::kind::nil;
  }
  return out;
}

// The RESP encoding of one command, by hiredis.
std::string encode(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n =
      redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  if (n < 0 || cmd == nullptr) return {};
  std::string out(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  enum class state { connecting, up, waiting, stopped };

  struct pending {
    callback done;
    steady::time_point sent;
    std::string what;        // the command's name, for logs
    bool own = false;        // the client's own (AUTH, SELECT, SUBSCRIBE, ...): no caller waits
    bool announces = false;  // its answer makes the connection up for on_state (a subscriber's)
  };

  impl(asio::io_context& io, options o)
      : opts(std::move(o)),
        strand(asio::make_strand(io)),
        socket(strand),
        resolver(strand),
        timer(strand),
        tick(strand),
        reader(redisReaderCreate()) {}
  ~impl() { redisReaderFree(reader); }

  options opts;
  asio::strand<asio::io_context::executor_type> strand;
  tcp::socket socket;
  tcp::resolver resolver;
  asio::steady_timer timer;  // connect timeout, then the reconnection's wait
  asio::steady_timer tick;   // checks the oldest command's age while up
  redisReader* reader;
  state st = state::waiting;
  std::uint64_t generation = 0;  // one per connection attempt: stale handlers do nothing
  int backoff_ms = 0;
  std::deque<pending> in_flight;
  std::string out;      // encoded commands waiting to be written
  std::string writing;  // the buffer of the write on the wire
  bool write_busy = false;
  std::array<char, 64 * 1024> in{};
  std::set<std::string> subscriptions;
  bool subscriber = false;
  message_fn on_msg;
  state_fn on_st;
  bool told_up = false;  // on_st(true) was called for this connection
  std::atomic<bool> up{false};
  std::atomic<std::uint64_t> n_commands{0}, n_failed{0}, n_connects{0}, n_disconnects{0},
      n_messages{0};

  void fail(callback& cb, const std::string& why) {
    n_failed += 1;
    if (cb) cb(error{errc::unavailable, "Redis: " + why});
  }

  void connect() {
    if (st == state::stopped) return;
    st = state::connecting;
    const auto gen = ++generation;
    auto self = shared_from_this();
    timer.expires_after(std::chrono::milliseconds(opts.connect_timeout_ms));
    timer.async_wait([self, gen](boost::system::error_code ec) {
      if (ec || gen != self->generation || self->st != state::connecting) return;
      self->broken("connect timed out");
    });
    resolver.async_resolve(
        opts.host, std::to_string(opts.port),
        [self, gen](boost::system::error_code ec, tcp::resolver::results_type results) {
          if (gen != self->generation || self->st != state::connecting) return;
          if (ec) return self->broken("cannot resolve " + self->opts.host + ": " + ec.message());
          asio::async_connect(self->socket, results,
                              [self, gen](boost::system::error_code ec2, const tcp::endpoint&) {
                                if (gen != self->generation || self->st != state::connecting)
                                  return;
                                if (ec2) return self->broken("cannot connect: " + ec2.message());
                                self->connected();
                              });
        });
  }

  void connected() {
    timer.cancel();
    st = state::up;
    backoff_ms = 0;
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    redisReaderFree(reader);
    reader = redisReaderCreate();
    n_connects += 1;
    // The connection's own commands first: they are answered before any caller's.
    if (!opts.password.empty()) send({"AUTH", opts.password}, {}, true);
    if (opts.db != 0) send({"SELECT", std::to_string(opts.db)}, {}, true);
    for (const auto& ch : subscriptions)
      send({"SUBSCRIBE", ch}, {}, true);
    up = true;
    read();
    arm_tick();
    // A subscriber is up once Redis has answered its subscriptions: a message published after
    // that is heard (a caller that reads what it missed when told up misses nothing between).
    if (subscriber && !subscriptions.empty()) {
      in_flight.back().announces = true;
    } else {
      told_up = true;
      if (on_st) on_st(true);
    }
  }

  // Queues one encoded command on the wire (st must be up).
  void send(const std::vector<std::string>& args, callback done, bool own = false) {
    out += encode(args);
    in_flight.push_back(pending{std::move(done), steady::now(), args[0], own});
    write();
  }

  void write() {
    if (write_busy || out.empty() || st != state::up) return;
    write_busy = true;
    writing.clear();
    writing.swap(out);
    auto self = shared_from_this();
    const auto gen = generation;
    asio::async_write(socket, asio::buffer(writing),
                      [self, gen](boost::system::error_code ec, std::size_t) {
                        if (gen != self->generation) return;
                        self->write_busy = false;
                        if (ec) return self->broken("write failed: " + ec.message());
                        self->write();
                      });
  }

  void read() {
    auto self = shared_from_this();
    const auto gen = generation;
    socket.async_read_some(
        asio::buffer(in), [self, gen](boost::system::error_code ec, std::size_t n) {
          if (gen != self->generation || self->st != state::up) return;
          if (ec) {
            return self->broken(ec == asio::error::eof ? "the server closed the connection"
                                                       : "read failed: " + ec.message());
          }
          if (redisReaderFeed(self->reader, self->in.data(), n) != REDIS_OK) {
            return self->broken("bad reply from the server");
          }
          for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(self->reader, &raw) != REDIS_OK) {
              return self->broken("bad reply from the server");
            }
            if (raw == nullptr) break;
            reply r = convert(static_cast<redisReply*>(raw));
            freeReplyObject(raw);
            if (!self->dispatch(std::move(r))) return;
            if (gen != self->generation || self->st != state::up) return;  // a callback stopped us
          }
          self->read();
        });
  }

  // One reply: a pub/sub message, or the answer to the oldest command. False when the
  // connection was broken here.
  bool dispatch(reply r) {
    if (subscriber && r.type == reply::kind::array && r.elements.size() == 3 &&
        r.elements[0].str == "message") {
      n_messages += 1;
      if (on_msg) on_msg(r.elements[1].str, r.elements[2].str);
      return true;
    }
    if (in_flight.empty()) {
      broken("a reply nobody asked for");
      return false;
    }
    pending p = std::move(in_flight.front());
    in_flight.pop_front();
    n_commands += 1;
    if (p.own) {
      if (r.is_error()) {
        // AUTH or SELECT refused: this connection is useless; say why, and try again later.
        broken(p.what + " refused: " + r.str);
        return false;
      }
      if (p.announces && !told_up) {
        told_up = true;
        if (on_st) on_st(true);
      }
      return true;
    }
    if (p.done) p.done(std::move(r));
    return true;
  }

  void arm_tick() {
    auto self = shared_from_this();
    const auto gen = generation;
    tick.expires_after(std::chrono::milliseconds(std::max(10, opts.command_timeout_ms / 4)));
    tick.async_wait([self, gen](boost::system::error_code ec) {
      if (ec || gen != self->generation || self->st != state::up) return;
      if (!self->in_flight.empty() &&
          steady::now() - self->in_flight.front().sent >=
              std::chrono::milliseconds(self->opts.command_timeout_ms)) {
        return self->broken(self->in_flight.front().what + " not answered in " +
                            std::to_string(self->opts.command_timeout_ms) + " ms");
      }
      self->arm_tick();
    });
  }

  // The connection (or the attempt) failed: close it, fail what it carried, and try again later.
  void broken(const std::string& why) {
    const bool was_up = st == state::up;
    close_socket();
    if (st == state::stopped) return;
    st = state::waiting;
    if (was_up) {
      n_disconnects += 1;
      spdlog::warn("redis {}:{}: {}; reconnecting", opts.host, opts.port, why);
    } else if (backoff_ms == 0) {
      spdlog::warn("redis {}:{}: {}; retrying", opts.host, opts.port, why);
    }
    fail_all(why);
    if (std::exchange(told_up, false) && on_st) on_st(false);
    backoff_ms =
        backoff_ms == 0 ? opts.reconnect_first_ms : std::min(backoff_ms * 2, opts.reconnect_max_ms);
    auto self = shared_from_this();
    const auto gen = ++generation;
    timer.expires_after(std::chrono::milliseconds(backoff_ms));
    timer.async_wait([self, gen](boost::system::error_code ec) {
      if (ec || gen != self->generation || self->st != state::waiting) return;
      self->connect();
    });
  }

  void close_socket() {
    up = false;
    ++generation;  // every handler of this connection is stale from here
    boost::system::error_code ignored;
    socket.close(ignored);
    tick.cancel();
    timer.cancel();
    resolver.cancel();
    out.clear();
    write_busy = false;
  }

  void fail_all(const std::string& why) {
    auto failing = std::move(in_flight);
    in_flight.clear();
    for (auto& p : failing)
      fail(p.done, why);
  }

  void do_command(std::vector<std::string> args, callback done) {
    if (args.empty()) {
      if (done) done(error{errc::bad_field, "Redis: an empty command"});
      return;
    }
    if (st != state::up) {
      return fail(done, st == state::stopped ? "the client is stopped" : "not connected");
    }
    if (in_flight.size() >= opts.max_in_flight) return fail(done, "too many commands in flight");
    send(args, std::move(done));
  }

  void do_stop() {
    if (st == state::stopped) return;
    st = state::stopped;
    close_socket();
    fail_all("the client is stopped");
    if (std::exchange(told_up, false) && on_st) on_st(false);
  }
};

client::client(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

client::~client() {
  stop();
}

std::shared_ptr<client> client::start(asio::io_context& io, options o) {
  auto p = std::make_shared<impl>(io, std::move(o));
  asio::post(p->strand, [p] { p->connect(); });
  return std::shared_ptr<client>(new client(std::move(p)));
}

void client::command(std::vector<std::string> args, callback done) {
  asio::post(impl_->strand, [p = impl_, args = std::move(args), done = std::move(done)]() mutable {
    p->do_command(std::move(args), std::move(done));
  });
}

void client::on_message(message_fn fn) {
  asio::post(impl_->strand,
             [p = impl_, fn = std::move(fn)]() mutable { p->on_msg = std::move(fn); });
}

void client::subscribe(std::string channel) {
  asio::post(impl_->strand, [p = impl_, ch = std::move(channel)] {
    p->subscriber = true;
    if (!p->subscriptions.insert(ch).second) return;
    if (p->st == impl::state::up) p->send({"SUBSCRIBE", ch}, {}, true);
  });
}

void client::unsubscribe(std::string channel) {
  asio::post(impl_->strand, [p = impl_, ch = std::move(channel)] {
    if (p->subscriptions.erase(ch) == 0) return;
    if (p->st == impl::state::up) p->send({"UNSUBSCRIBE", ch}, {}, true);
  });
}

void client::on_state(state_fn fn) {
  asio::post(impl_->strand,
             [p = impl_, fn = std::move(fn)]() mutable { p->on_st = std::move(fn); });
}

bool client::connected() const noexcept {
  return impl_->up.load();
}

client_stats client::stats() const {
  client_stats s;
  s.commands = impl_->n_commands.load();
  s.failed = impl_->n_failed.load();
  s.connects = impl_->n_connects.load();
  s.disconnects = impl_->n_disconnects.load();
  s.messages = impl_->n_messages.load();
  return s;
}

void client::stop() {
  asio::post(impl_->strand, [p = impl_] { p->do_stop(); });
}

void client::abandon() {
  impl_->on_st = nullptr;
  impl_->on_msg = nullptr;
  impl_->do_stop();
}

}  // namespace maratang::redis
