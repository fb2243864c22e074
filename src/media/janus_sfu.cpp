#include "media/janus_sfu.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "core/crypto.hpp"
#include "util/clock.hpp"

namespace maratang::media {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using done_fn = std::function<void(std::optional<json::value>)>;

// One HTTP POST of a JSON body on a fresh connection; `done` gets the parsed reply, or nothing on
// any failure (logged). Runs on the strand it is given.
struct post_op : std::enable_shared_from_this<post_op> {
  post_op(asio::strand<asio::io_context::executor_type> s, std::string url, std::string body,
          int timeout_ms, done_fn d)
      : resolver(s), stream(s), url_(std::move(url)), timeout(timeout_ms), done(std::move(d)) {
    req.method(http::verb::post);
    req.version(11);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "close");
    req.body() = std::move(body);
  }

  void start() {
    auto u = boost::urls::parse_uri(url_);
    if (!u || u->scheme() != "http") return fail("bad URL (only http:// is supported)");
    req.target(u->encoded_target().empty() ? "/" : std::string(u->encoded_target()));
    req.set(http::field::host, u->encoded_host_and_port());
    req.prepare_payload();
    const std::string port = u->has_port() ? std::string(u->port()) : "80";
    stream.expires_after(std::chrono::milliseconds(timeout));
    resolver.async_resolve(
        std::string(u->host()), port,
        [self = shared_from_this()](beast::error_code ec, auto results) {
          if (ec) return self->fail("resolve: " + ec.message());
          self->stream.async_connect(
              results, [self](beast::error_code e, const tcp::endpoint&) { self->on_connect(e); });
        });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect: " + ec.message());
    http::async_write(stream, req, [self = shared_from_this()](beast::error_code e, std::size_t) {
      if (e) return self->fail("write: " + e.message());
      http::async_read(self->stream, self->buf, self->res,
                       [self](beast::error_code e2, std::size_t) { self->on_read(e2); });
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail("read: " + ec.message());
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (res.result_int() != 200) return fail("HTTP status " + std::to_string(res.result_int()));
    boost::system::error_code jec;
    auto v = json::parse(res.body(), jec);
    if (jec) return fail("reply is not JSON");
    done(std::move(v));
  }

  void fail(const std::string& why) {
    spdlog::warn("janus: {} failed: {}", url_, why);
    done(std::nullopt);
  }

  tcp::resolver resolver;
  beast::tcp_stream stream;
  http::request<http::string_body> req;
  http::response<http::string_body> res;
  beast::flat_buffer buf;
  std::string url_;
  int timeout;
  done_fn done;
};

// One request to Janus: to the admin API, or a videoroom plugin message. `quiet`: a refusal is
// expected at times (making again what may still exist) and logged only at debug level. `retry`:
// removing something (a room, a token): when Janus does not answer, it is tried again once Janus
// answers, so that nobody keeps a stream the policy took away.
struct step {
  bool admin = false;
  json::object body;
  bool quiet = false;
  bool retry = false;
  bool resync_end = false;  // no request: marks the end of a resync batch
};

class janus_sfu final : public sfu, public std::enable_shared_from_this<janus_sfu> {
 public:
  janus_sfu(asio::io_context& io, janus_options o)
      : strand_(asio::make_strand(io)),
        timer_(strand_),
        opt_(std::move(o)),
        own_token_(own_token_of(opt_)) {
    if (opt_.public_url.empty()) opt_.public_url = opt_.url;
    // Maratang's own token for the Janus API (token_auth), before anything else. Quiet: after a
    // crash of this node, Janus still has it.
    batches_.push_back({add_token(own_token_, true)});
  }

  // Starts the health checks (after construction: they hold a weak reference).
  void start() {
    if (opt_.check_ms > 0) asio::post(strand_, [w = weak_from_this()] { schedule_check(w); });
  }

  void apply(std::string_view game_id, const std::vector<speaker>& speakers) override {
    std::vector<step> batch;
    {
      std::lock_guard g(mu_);
      auto& gm = games_[std::string(game_id)];
      auto token_of = [&](std::int64_t m) -> const std::string& {
        auto it = gm.tokens.find(m);
        if (it == gm.tokens.end()) {
          it = gm.tokens.emplace(m, core::random_token(24)).first;
          batch.push_back(add_token(it->second));
        }
        return it->second;
      };
      for (const auto& s : speakers) {
        std::set<std::int64_t> want(s.audience.begin(), s.audience.end());
        want.insert(s.id);
        for (auto m : want)
          token_of(m);  // every member of the room has a token before the room names it
        auto it = gm.rooms.find(s.id);
        if (it != gm.rooms.end() && it->second.allowed == want) continue;
        if (it != gm.rooms.end() &&
            std::includes(want.begin(), want.end(), it->second.allowed.begin(),
                          it->second.allowed.end())) {
          // The audience grew: let the newcomers in; nobody in the room is disturbed.
          json::array added;
          for (auto m : want) {
            if (!it->second.allowed.count(m)) added.emplace_back(token_of(m));
          }
          batch.push_back(plugin({{"request", "allowed"},
                                  {"room", it->second.id},
                                  {"secret", it->second.secret},
                                  {"action", "add"},
                                  {"allowed", std::move(added)}}));
          it->second.allowed = std::move(want);
          continue;
        }
        if (it != gm.rooms.end()) {
          // Someone may no longer hear this speaker: the room goes, and everyone in it with it.
          batch.push_back(destroy_room(it->second));
          gm.rooms.erase(it);
        }
        room r{new_room_id(), core::random_token(24), std::move(want)};
        batch.push_back(create_room(r, game_id, s.id, gm));
        gm.rooms.emplace(s.id, std::move(r));
      }
    }
    enqueue(std::move(batch));
  }

  json::object grant(std::string_view game_id, std::int64_t member) const override {
    std::lock_guard g(mu_);
    auto git = games_.find(game_id);
    if (git == games_.end()) return {};
    const auto& gm = git->second;
    auto t = gm.tokens.find(member);
    if (t == gm.tokens.end()) return {};
    json::object out{{"url", opt_.public_url}, {"token", t->second}};
    json::array hear;
    for (const auto& [sp, r] : gm.rooms) {
      if (sp == member)
        out["publish"] = r.id;
      else if (r.allowed.count(member))
        hear.push_back(json::object{{"player", sp}, {"room", r.id}});
    }
    out["hear"] = std::move(hear);
    return out;
  }

  void end(std::string_view game_id) override {
    std::vector<step> batch;
    {
      std::lock_guard g(mu_);
      auto it = games_.find(game_id);
      if (it == games_.end()) return;
      for (const auto& [sp, r] : it->second.rooms)
        batch.push_back(destroy_room(r));
      for (const auto& [m, tok] : it->second.tokens)
        batch.push_back(remove_token(tok));
      games_.erase(it);
    }
    enqueue(std::move(batch));
  }

  json::object save(std::string_view game_id) const override {
    std::lock_guard g(mu_);
    auto it = games_.find(game_id);
    if (it == games_.end()) return {};
    json::object tokens;
    for (const auto& [m, tok] : it->second.tokens)
      tokens[std::to_string(m)] = tok;
    json::array rooms;
    for (const auto& [sp, r] : it->second.rooms) {
      json::array allowed;
      for (auto m : r.allowed)
        allowed.push_back(m);
      rooms.push_back(json::object{
          {"speaker", sp}, {"id", r.id}, {"secret", r.secret}, {"allowed", std::move(allowed)}});
    }
    return {{"tokens", std::move(tokens)}, {"rooms", std::move(rooms)}};
  }

  void adopt(std::string_view game_id, const json::object& saved) override {
    game gm;
    try {
      for (const auto& [m, tok] : saved.at("tokens").as_object())
        gm.tokens.emplace(std::stoll(std::string(m)), std::string(tok.as_string()));
      for (const auto& v : saved.at("rooms").as_array()) {
        const auto& o = v.as_object();
        room r{o.at("id").to_number<std::uint64_t>(), std::string(o.at("secret").as_string()), {}};
        for (const auto& m : o.at("allowed").as_array())
          r.allowed.insert(m.to_number<std::int64_t>());
        gm.rooms.emplace(o.at("speaker").to_number<std::int64_t>(), std::move(r));
      }
    } catch (const std::exception& e) {
      // Not ours to read (another version wrote it): the next apply() makes new rooms.
      spdlog::warn("janus: game {}: its saved rooms are unreadable ({}); new ones will be made",
                   game_id, e.what());
      return;
    }
    std::vector<step> batch;
    {
      std::lock_guard g(mu_);
      auto& slot = games_[std::string(game_id)];
      slot = std::move(gm);
      make_again(slot, game_id, batch);
    }
    enqueue(std::move(batch));
  }

  void release(std::string_view game_id) override {
    std::lock_guard g(mu_);
    if (auto it = games_.find(game_id); it != games_.end()) games_.erase(it);
  }

  json::object health() const override {
    std::lock_guard g(mu_);
    json::object o{
        {"up", up_}, {"checked_at", checked_at_}, {"games", games_.size()}, {"resyncs", resyncs_}};
    if (!error_.empty()) o["error"] = error_;
    return o;
  }

 private:
  struct room {
    std::uint64_t id = 0;
    std::string secret;
    std::set<std::int64_t> allowed;  // the speaker and their audience
  };
  struct game {
    std::map<std::int64_t, std::string> tokens;
    std::map<std::int64_t, room> rooms;  // by speaker
  };

  static std::string fmt_room(std::string_view game_id, std::int64_t speaker) {
    return "maratang " + std::string(game_id) + " " + std::to_string(speaker);
  }

  // The node's own token: derived from the admin secret (which browsers never see) and the node
  // id, so that it is the same after a restart and different for each node sharing a Janus.
  static std::string own_token_of(const janus_options& o) {
    if (o.node_id.empty()) return core::random_token(24);
    return "maratang-" +
           core::sha256_hex("maratang janus token\n" + o.admin_secret + "\n" + o.node_id)
               .substr(0, 32);
  }
  static step add_token(const std::string& token, bool quiet = false) {
    return {true,
            {{"janus", "add_token"}, {"token", token}, {"plugins", {"janus.plugin.videoroom"}}},
            quiet};
  }
  static step remove_token(const std::string& token) {
    return {true, {{"janus", "remove_token"}, {"token", token}}, false, true};
  }
  static step plugin(json::object body) { return {false, std::move(body)}; }
  static step destroy_room(const room& r) {
    return {false, {{"request", "destroy"}, {"room", r.id}, {"secret", r.secret}}, false, true};
  }
  step create_room(const room& r, std::string_view game_id, std::int64_t speaker,
                   const game& gm) const {
    json::array tokens;
    for (auto m : r.allowed) {
      if (auto t = gm.tokens.find(m); t != gm.tokens.end()) tokens.emplace_back(t->second);
    }
    return plugin({{"request", "create"},
                   {"room", r.id},
                   {"secret", r.secret},
                   {"admin_key", opt_.admin_key},
                   {"description", fmt_room(game_id, speaker)},
                   {"is_private", true},
                   {"require_pvtid", true},
                   {"publishers", 1},
                   {"allowed", std::move(tokens)}});
  }
  // A game's tokens and rooms, told again to a Janus that may have some of them (adopted from a
  // snapshot) or none (restarted): a refusal because one exists is expected.
  void make_again(const game& gm, std::string_view game_id, std::vector<step>& batch) const {
    for (const auto& [m, tok] : gm.tokens)
      batch.push_back(add_token(tok, true));
    for (const auto& [sp, r] : gm.rooms) {
      batch.push_back(create_room(r, game_id, sp, gm));
      batch.back().quiet = true;
    }
  }

  // Room numbers are random below 2^53, so that browsers read them exactly.
  std::uint64_t new_room_id() {
    std::random_device rd;
    return (((static_cast<std::uint64_t>(rd()) << 32) | rd()) & ((1ULL << 53) - 1)) | 1;
  }

  void enqueue(std::vector<step> batch) {
    if (batch.empty()) return;
    asio::post(strand_, [self = shared_from_this(), b = std::move(batch)]() mutable {
      self->batches_.push_back(std::move(b));
      if (!self->running_) self->next();
    });
  }

  // On the strand: runs the next batch, one request at a time. Plugin messages go through a
  // session and handle made for the batch and destroyed after it.
  void next() {
    if (batches_.empty()) {
      running_ = false;
      return;
    }
    running_ = true;
    auto b = std::make_shared<std::deque<step>>(batches_.front().begin(), batches_.front().end());
    batches_.pop_front();
    run(b, 0, 0);
  }

  void run(std::shared_ptr<std::deque<step>> b, std::uint64_t session, std::uint64_t handle) {
    auto self = shared_from_this();
    if (b->empty()) {
      if (session)
        post(opt_.url + "/" + std::to_string(session), {{"janus", "destroy"}},
             [self](std::optional<json::value>) { self->next(); });
      else
        next();
      return;
    }
    auto& s = b->front();
    if (s.resync_end) {
      resync_queued_ = false;
      b->pop_front();
      return run(b, session, handle);
    }
    if (s.admin) {
      auto body = s.body;
      body["admin_secret"] = opt_.admin_secret;
      post(opt_.admin_url, std::move(body),
           [self, b, session, handle](std::optional<json::value> r) {
             self->done_step(b->front(), r, "admin request");
             b->pop_front();
             self->run(b, session, handle);
           });
      return;
    }
    if (!session) {
      post(opt_.url, {{"janus", "create"}}, [self, b](std::optional<json::value> r) {
        auto id = data_id(r);
        if (!id) return self->give_up(b, "create a session");
        self->post(self->opt_.url + "/" + std::to_string(*id),
                   {{"janus", "attach"}, {"plugin", "janus.plugin.videoroom"}},
                   [self, b, sid = *id](std::optional<json::value> r2) {
                     auto hid = data_id(r2);
                     if (!hid) return self->give_up(b, "attach the videoroom plugin");
                     self->run(b, sid, *hid);
                   });
      });
      return;
    }
    json::object msg{{"janus", "message"}, {"body", s.body}};
    post(opt_.url + "/" + std::to_string(session) + "/" + std::to_string(handle), std::move(msg),
         [self, b, session, handle](std::optional<json::value> r) {
           self->done_step(b->front(), r, "videoroom request");
           b->pop_front();
           self->run(b, session, handle);
         });
  }

  void give_up(const std::shared_ptr<std::deque<step>>& b, std::string_view what) {
    spdlog::warn("janus: could not {}; {} requests dropped", what, b->size());
    for (auto& s : *b) {
      if (s.retry) retry_.push_back(std::move(s));
      if (s.resync_end) resync_queued_ = false;  // the next check tries again
    }
    next();
  }

  // After a step: a removal Janus did not answer is kept to try again; a refusal is logged
  // (Janus answers errors with HTTP 200 and an "error" member).
  void done_step(const step& s, const std::optional<json::value>& r, std::string_view what) {
    if (!r) {
      if (s.retry) retry_.push_back(s);
      return;
    }
    const auto* o = r->if_object();
    if (!o) return;
    const json::value* refusal = o->if_contains("error");
    if (!refusal) {
      if (auto* pd = o->if_contains("plugindata")) {
        if (auto* d = pd->as_object().if_contains("data")) {
          if (d->as_object().contains("error")) refusal = d;
        }
      }
    }
    if (!refusal) return;
    if (s.quiet)
      spdlog::debug("janus: {} refused (expected when it exists): {}", what,
                    json::serialize(*refusal));
    else
      spdlog::warn("janus: {} refused: {}", what, json::serialize(*refusal));
  }

  // --- health ------------------------------------------------------------------------------------

  static void schedule_check(const std::weak_ptr<janus_sfu>& w) {
    auto self = w.lock();
    if (!self) return;
    self->timer_.expires_after(std::chrono::milliseconds(self->opt_.check_ms));
    self->timer_.async_wait([w](boost::system::error_code ec) {
      if (ec) return;
      if (auto s = w.lock()) s->check_now(w);
    });
  }

  // On the strand: asks the admin API for Janus's tokens. No answer: down. Ours missing: Janus
  // lost its state (a restart): everything live is told again.
  void check_now(const std::weak_ptr<janus_sfu>& w) {
    json::object body{{"janus", "list_tokens"}, {"admin_secret", opt_.admin_secret}};
    post(opt_.admin_url, std::move(body), [w](std::optional<json::value> r) {
      auto self = w.lock();
      if (!self) return;
      self->on_checked(r);
      schedule_check(w);
    });
  }

  void on_checked(const std::optional<json::value>& r) {
    const json::array* tokens = nullptr;
    if (r && r->is_object()) {
      if (const auto* d = r->as_object().if_contains("data"); d && d->is_object()) {
        if (const auto* t = d->as_object().if_contains("tokens"); t && t->is_array())
          tokens = &t->as_array();
      }
    }
    bool ours = false;
    for (const auto& t : tokens ? *tokens : json::array{}) {
      const auto* o = t.if_object();
      const auto* v = o ? o->if_contains("token") : nullptr;
      if (v && v->is_string() && v->get_string() == own_token_) ours = true;
    }
    std::vector<step> batch;
    {
      std::lock_guard g(mu_);
      checked_at_ = real_clock().now_ms();
      if (!tokens) {
        if (up_) spdlog::warn("janus: no answer from {}: Janus is down", opt_.admin_url);
        up_ = false;
        error_ = r ? "unexpected reply to list_tokens" : "no answer";
        return;
      }
      // Down until now: what was sent meanwhile was dropped, so everything is told again.
      const bool back = !up_ && checked_once_;
      if (back) spdlog::info("janus: {} answers again", opt_.admin_url);
      up_ = true;
      checked_once_ = true;
      error_.clear();
      if (!ours) {
        // Seen before and gone now: Janus restarted. (Never seen: the first batch has not
        // reached a Janus that was down; adding again is harmless.)
        if (own_token_seen_) {
          ++resyncs_;
          spdlog::warn("janus: its state is gone (restarted?); telling it {} games again",
                       games_.size());
        }
        own_token_seen_ = false;
      } else {
        own_token_seen_ = true;
      }
      // One resync at a time: a check during one (a long one, or checks close together) waits
      // for it to end rather than queueing another.
      if ((!ours || back) && !resync_queued_) {
        resync_queued_ = true;
        batch.push_back(add_token(own_token_, true));
        for (const auto& [id, gm] : games_)
          make_again(gm, id, batch);
        step end;
        end.resync_end = true;
        batch.push_back(std::move(end));
      }
    }
    // Removals Janus did not answer, now that it does.
    for (auto& s : retry_) {
      s.quiet = true;
      batch.push_back(std::move(s));
    }
    retry_.clear();
    enqueue(std::move(batch));
  }

  static std::optional<std::uint64_t> data_id(const std::optional<json::value>& r) {
    if (!r || !r->is_object()) return std::nullopt;
    const auto* d = r->as_object().if_contains("data");
    if (!d || !d->is_object()) return std::nullopt;
    const auto* id = d->as_object().if_contains("id");
    if (!id) return std::nullopt;
    if (id->is_uint64()) return id->as_uint64();
    if (id->is_int64() && id->as_int64() > 0) return static_cast<std::uint64_t>(id->as_int64());
    return std::nullopt;
  }

  void post(std::string url, json::object body, done_fn done) {
    body["transaction"] = core::random_token(9);
    if (!body.contains("admin_secret")) body["token"] = own_token_;
    std::make_shared<post_op>(strand_, std::move(url), json::serialize(body), opt_.timeout_ms,
                              std::move(done))
        ->start();
  }

  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;  // the health checks, on the strand
  janus_options opt_;
  const std::string own_token_;
  mutable std::mutex mu_;
  std::map<std::string, game, std::less<>> games_;  // guarded by mu_
  bool up_ = false;                                 // guarded by mu_, as the four below
  bool checked_once_ = false;
  bool own_token_seen_ = false;
  std::int64_t checked_at_ = 0;
  std::int64_t resyncs_ = 0;
  std::string error_;
  std::deque<std::vector<step>> batches_;  // on the strand
  std::vector<step> retry_;                // on the strand
  bool running_ = false;                   // on the strand
  bool resync_queued_ = false;             // on the strand
};

}  // namespace

std::shared_ptr<sfu> make_janus_sfu(boost::asio::io_context& io, janus_options o) {
  auto s = std::make_shared<janus_sfu>(io, std::move(o));
  s->start();
  return s;
}

}  // namespace maratang::media
