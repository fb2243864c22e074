// Ratings and leaderboards over REST and realtime messages (README "Competition";
// proto::core_endpoints and core_messages have the contract). Both forms share the queries
// below; the store answers on its own thread, which replies directly (connection::send and
// http_responder are safe from any thread).
#include <fmt/format.h>
#include <boost/json.hpp>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/gateway.hpp"
#include "api/http_replies.hpp"
#include "competition/competition_store.hpp"
#include "competition/season.hpp"
#include "core/account_store.hpp"
#include "core/auth_service.hpp"
#include "lobby/lobby.hpp"
#include "lobby/mode.hpp"

namespace maratang::api {

namespace json = boost::json;
using net::http_request;
using net::http_responder;

namespace {

using done_fn = std::function<void(result<json::object>)>;

constexpr std::string_view kBoards = "/v1/leaderboards";

// Integral values (kills, milliseconds) as integers; ratings as numbers.
json::value number(double v) {
  if (std::nearbyint(v) == v && std::abs(v) < 9e15) return static_cast<std::int64_t>(v);
  return v;
}

using nickname_list = core::account_store::nickname_list;

// An entry with its account's nickname (null when it has none, or the names could not be read).
json::object entry_json(const store::leaderboard_entry& e, const nickname_list& names) {
  json::value nickname = nullptr;
  for (const auto& [id, name] : names)
    if (id == e.account_id) nickname = json::string(name);
  return {{"rank", e.rank},
          {"account_id", e.account_id},
          {"nickname", std::move(nickname)},
          {"value", number(e.value)},
          {"reached_at", e.reached_ms}};
}

json::array entries_json(const std::vector<store::leaderboard_entry>& es,
                         const nickname_list& names) {
  json::array out;
  for (const auto& e : es)
    out.push_back(entry_json(e, names));
  return out;
}

// Reads the nicknames of a page's accounts, then `then(names)`; a failed read names nobody
// (the entries still answer, with nickname null).
void with_names(core::account_store& accounts, const store::leaderboard_page& page,
                std::function<void(const nickname_list&)> then) {
  std::vector<std::int64_t> ids;
  for (const auto& e : page.entries)
    ids.push_back(e.account_id);
  if (ids.empty()) return then({});
  accounts.nicknames_of(std::move(ids), [then = std::move(then)](result<nickname_list> names) {
    then(names ? *names : nickname_list{});
  });
}

json::object rating_json(const store::rating_record& r) {
  json::object o{{"model", r.model == store::rating_model::glicko2 ? "glicko2" : "weng_lin"},
                 {"mu", r.mu},
                 {"sigma", r.sigma},
                 {"display", r.display},
                 {"games", r.games},
                 {"last_played_at", r.last_ms}};
  if (r.model == store::rating_model::glicko2) o["volatility"] = r.volatility;
  return o;
}

json::object ratings_json(std::int64_t account, const std::vector<store::rating_record>& rs) {
  json::object by_key;
  for (const auto& r : rs)
    by_key[r.key] = rating_json(r);
  return {{"account_id", account}, {"ratings", std::move(by_key)}};
}

json::object change_json(const store::rating_change& c) {
  return {
      {"game_id", c.game_id},
      {"ended_at", c.ended_ms},
      {"before", {{"mu", c.mu_before}, {"sigma", c.sigma_before}, {"display", c.display_before}}},
      {"after", {{"mu", c.mu_after}, {"sigma", c.sigma_after}, {"display", c.display_after}}}};
}

json::value or_null(std::int64_t ms) {
  return ms > 0 ? json::value(ms) : json::value(nullptr);
}

// Reads an optional integer query parameter within [lo, hi]; false (with `fail` called) when it
// is there and is not such an integer.
bool query_int(const http_request& req, std::string_view name, std::int64_t lo, std::int64_t hi,
               std::int64_t& out, const std::function<void(error)>& fail) {
  const std::string v = req.query_param(name);
  if (v.empty()) return true;
  std::int64_t n = 0;
  if (!parse_i64(v, n) || n < lo || n > hi) {
    fail(error{errc::bad_field, fmt::format("{} must be an integer from {} to {}.", name, lo, hi)});
    return false;
  }
  out = n;
  return true;
}

}  // namespace

// The boards the modes declare, and which mode declares each.
namespace {

struct known_board {
  std::string name;
  std::string mode;
  bool ascending = false;
  std::string summary;
};

std::vector<known_board> known_boards(const lobby::mode_registry& modes) {
  std::vector<known_board> out;
  for (const auto& f : modes.all())
    for (const auto& b : f->leaderboards())
      out.push_back({b.name, std::string(f->name()), b.ascending, std::string(b.summary)});
  return out;
}

bool is_known(const lobby::mode_registry& modes, std::string_view board) {
  for (const auto& b : known_boards(modes))
    if (b.name == board) return true;
  return false;
}

error unknown_board(std::string_view board) {
  return error{errc::unknown_leaderboard,
               fmt::format("There is no leaderboard \"{}\" (GET /v1/leaderboards lists them).",
                           board.substr(0, 100))};
}

// The season's header fields of every board answer.
json::object season_header(const competition::season_schedule& s, const std::string& board,
                           std::int64_t season, std::int64_t total) {
  return {{"board", board},
          {"season", season},
          {"season_starts_at", season},
          {"season_ends_at", or_null(s.next_after(season))},
          {"total", total}};
}

// The queries both forms share.
struct competition_queries {
  competition::competition_store& store;
  core::account_store& accounts;
  const competition::season_schedule& seasons;
  const lobby::mode_registry& modes;
  epoch_ms now;

  std::int64_t season_or_now(std::optional<std::int64_t> s) const {
    return s ? *s : seasons.season_of(now);
  }

  void top(std::string board, std::optional<std::int64_t> season, std::int64_t offset, int limit,
           done_fn done) const {
    if (!is_known(modes, board)) return done(unknown_board(board));
    const std::int64_t sid = season_or_now(season);
    const auto* sched = &seasons;
    auto* names = &accounts;
    store.leaderboard_top(board, sid, offset, limit,
                          [sched, names, board, sid, done](result<store::leaderboard_page> page) {
                            if (!page) return done(page.error());
                            with_names(
                                *names, *page,
                                [sched, board, sid, done, page = *page](const nickname_list& ns) {
                                  json::object o = season_header(*sched, board, sid, page.total);
                                  o["entries"] = entries_json(page.entries, ns);
                                  done(std::move(o));
                                });
                          });
  }

  void around(std::string board, std::optional<std::int64_t> season, std::int64_t account,
              int radius, done_fn done) const {
    if (!is_known(modes, board)) return done(unknown_board(board));
    const std::int64_t sid = season_or_now(season);
    const auto* sched = &seasons;
    auto* names = &accounts;
    store.leaderboard_around(
        board, sid, account, radius,
        [sched, names, board, sid, account, done](result<store::leaderboard_page> page) {
          if (!page) return done(page.error());
          with_names(*names, *page,
                     [sched, board, sid, account, done, page = *page](const nickname_list& ns) {
                       json::object o = season_header(*sched, board, sid, page.total);
                       json::value me = nullptr;
                       for (const auto& e : page.entries)
                         if (e.account_id == account) me = entry_json(e, ns);
                       o["me"] = std::move(me);
                       o["entries"] = entries_json(page.entries, ns);
                       done(std::move(o));
                     });
        });
  }
};

}  // namespace

bool gateway::route_competition(http_request& req, const http_responder& respond) {
  const std::string& path = req.path;
  const std::string_view p = path;
  const bool boards =
      p.rfind(kBoards, 0) == 0 && (p.size() == kBoards.size() || p[kBoards.size()] == '/');
  bool ratings = false;
  std::int64_t account = 0;
  std::string_view rating_rest;
  if (p.rfind("/v1/accounts/", 0) == 0) {
    std::string_view rest = p.substr(13);
    const auto slash = rest.find('/');
    if (slash != std::string_view::npos && parse_i64(rest.substr(0, slash), account)) {
      rating_rest = rest.substr(slash);
      ratings = rating_rest == "/ratings" || rating_rest.rfind("/ratings/", 0) == 0;
    }
  }
  if (!boards && !ratings) return false;
  auto fail = [&respond](error e) { respond(error_response(e)); };
  if (req.method != "GET") {
    fail(errc::method_not_allowed);
    return true;
  }
  if (!competition_ || !seasons_) {
    fail(error{errc::unavailable, "Ratings and leaderboards are not served here."});
    return true;
  }
  const competition_queries q{*competition_, stores_.accounts, *seasons_, lobby_.modes(),
                              clock_.now_ms()};
  auto reply_json = [respond](result<json::object> r) {
    if (!r) return respond(error_response(r.error()));
    respond(json_response(200, *r));
  };

  if (ratings) {
    auto claims = auth_.authenticate(req.bearer_token());
    if (!claims) {
      fail(claims.error());
      return true;
    }
    if (rating_rest == "/ratings") {
      competition_->ratings_of(account,
                               [account, respond](result<std::vector<store::rating_record>> rs) {
                                 if (!rs) return respond(error_response(rs.error()));
                                 respond(json_response(200, ratings_json(account, *rs)));
                               });
      return true;
    }
    std::string key(rating_rest.substr(9));
    if (key.empty() || key.size() > 64 || key.find('/') != std::string::npos) {
      fail(errc::not_found);
      return true;
    }
    std::int64_t limit = 20, before = 0;
    if (!query_int(req, "limit", 1, 100, limit, fail) ||
        !query_int(req, "before", 1, INT64_MAX, before, fail))
      return true;
    competition_->rating_history(
        account, key, before, static_cast<int>(limit),
        [account, key, respond](result<std::vector<store::rating_change>> h) {
          if (!h) return respond(error_response(h.error()));
          json::array out;
          for (const auto& c : *h)
            out.push_back(change_json(c));
          respond(json_response(
              200, {{"account_id", account}, {"key", key}, {"history", std::move(out)}}));
        });
    return true;
  }

  // /v1/leaderboards
  if (p.size() == kBoards.size()) {
    const epoch_ms now = clock_.now_ms();
    const std::int64_t sid = seasons_->season_of(now);
    json::array list;
    for (const auto& b : known_boards(lobby_.modes()))
      list.push_back(
          {{"name", b.name}, {"mode", b.mode}, {"ascending", b.ascending}, {"summary", b.summary}});
    respond(json_response(200, {{"season",
                                 {{"id", sid},
                                  {"starts_at", sid},
                                  {"ends_at", or_null(seasons_->next_after(now))},
                                  {"schedule", seasons_->expression()}}},
                                {"boards", std::move(list)}}));
    return true;
  }
  std::string_view rest = p.substr(kBoards.size() + 1);
  std::string_view tail;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    tail = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  const std::string board(rest);
  std::optional<std::int64_t> season;
  if (std::int64_t s = -1; !query_int(req, "season", 0, INT64_MAX, s, fail)) {
    return true;
  } else if (s >= 0) {
    season = s;
  }
  if (tail.empty()) {
    std::int64_t offset = 0, limit = 20;
    if (!query_int(req, "offset", 0, 1'000'000'000, offset, fail) ||
        !query_int(req, "limit", 1, 100, limit, fail))
      return true;
    q.top(board, season, offset, static_cast<int>(limit), reply_json);
    return true;
  }
  if (tail == "/around") {
    auto claims = auth_.authenticate(req.bearer_token());
    if (!claims) {
      fail(claims.error());
      return true;
    }
    std::int64_t radius = 5;
    if (!query_int(req, "radius", 0, 50, radius, fail)) return true;
    q.around(board, season, claims->account_id, static_cast<int>(radius), reply_json);
    return true;
  }
  if (tail == "/seasons") {
    if (!is_known(lobby_.modes(), board)) {
      fail(unknown_board(board));
      return true;
    }
    const epoch_ms current = seasons_->season_of(clock_.now_ms());
    const auto* sched = seasons_;
    competition_->leaderboard_seasons(
        board, [board, current, sched, respond](result<std::vector<std::int64_t>> ss) {
          if (!ss) return respond(error_response(ss.error()));
          json::array out;
          bool has_current = false;
          for (std::int64_t s : *ss) {
            has_current = has_current || s == current;
            out.push_back({{"id", s},
                           {"starts_at", s},
                           {"ends_at", or_null(sched->next_after(s))},
                           {"current", s == current}});
          }
          if (!has_current) {
            // The current season is listed even before its first entry.
            out.insert(out.begin(), json::object{{"id", current},
                                                 {"starts_at", current},
                                                 {"ends_at", or_null(sched->next_after(current))},
                                                 {"current", true}});
          }
          respond(json_response(200, {{"board", board}, {"seasons", std::move(out)}}));
        });
    return true;
  }
  fail(errc::not_found);
  return true;
}

// --- Realtime ----------------------------------------------------------------------------------

namespace {

// The request's connection, type and id, for a reply from the store's thread.
struct pending_reply {
  std::shared_ptr<net::connection> conn;
  std::string type;
  json::value id;
};

}  // namespace

void gateway::on_leaderboard_get(request& r) {
  if (!competition_ || !seasons_) {
    return send_error(r.conn, r.type, r.id,
                      error{errc::unavailable, "Ratings and leaderboards are not served here."});
  }
  const competition_queries q{*competition_, stores_.accounts, *seasons_, lobby_.modes(),
                              clock_.now_ms()};
  auto back = std::make_shared<pending_reply>(pending_reply{r.conn, r.type, r.id});
  q.top(std::string(r.args->string("board")), r.args->opt_integer("season"),
        r.args->opt_integer("offset").value_or(0),
        static_cast<int>(r.args->opt_integer("limit").value_or(20)),
        [this, back](result<json::object> res) {
          reply(request{back->conn, back->type, back->id, {}, std::nullopt, 0}, std::move(res));
        });
}

void gateway::on_leaderboard_around(request& r) {
  if (!competition_ || !seasons_) {
    return send_error(r.conn, r.type, r.id,
                      error{errc::unavailable, "Ratings and leaderboards are not served here."});
  }
  const competition_queries q{*competition_, stores_.accounts, *seasons_, lobby_.modes(),
                              clock_.now_ms()};
  auto back = std::make_shared<pending_reply>(pending_reply{r.conn, r.type, r.id});
  q.around(std::string(r.args->string("board")), r.args->opt_integer("season"),
           r.conn->context().account_id,
           static_cast<int>(r.args->opt_integer("radius").value_or(5)),
           [this, back](result<json::object> res) {
             reply(request{back->conn, back->type, back->id, {}, std::nullopt, 0}, std::move(res));
           });
}

void gateway::on_rating_get(request& r) {
  if (!competition_) {
    return send_error(r.conn, r.type, r.id,
                      error{errc::unavailable, "Ratings and leaderboards are not served here."});
  }
  const std::int64_t account = r.args->opt_integer("player").value_or(r.conn->context().account_id);
  auto back = std::make_shared<pending_reply>(pending_reply{r.conn, r.type, r.id});
  competition_->ratings_of(account,
                           [this, back, account](result<std::vector<store::rating_record>> rs) {
                             request req{back->conn, back->type, back->id, {}, std::nullopt, 0};
                             if (!rs) return reply(req, rs.error());
                             reply(req, ratings_json(account, *rs));
                           });
}

}  // namespace maratang::api
