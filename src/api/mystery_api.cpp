// Mystery over REST: the loaded scenarios, and each finished game's casebook as JSON, Markdown or
// HTML. See proto::core_endpoints for the list.
#include <boost/json.hpp>

#include "api/game_access.hpp"
#include "api/gateway.hpp"
#include "api/http_replies.hpp"
#include "core/auth_service.hpp"
#include "lobby/game_store.hpp"
#include "modes/mystery/casebook.hpp"
#include "modes/mystery/casebook_store.hpp"
#include "modes/mystery/mystery_mode.hpp"

namespace maratang::api {

namespace json = boost::json;

namespace {

constexpr std::string_view kGames = "/v1/games/";
constexpr std::string_view kCasebook = "/casebook";

json::object scenario_json(const mystery::scenario& s) {
  return {{"id", s.id},
          {"title", s.title},
          {"language", s.language},
          {"summary", s.summary},
          {"players", {{"min", s.min_players}, {"max", s.max_players}}},
          {"turn_limit", s.turn_limit},
          {"minutes", s.minutes},
          {"locations", s.locations.size()},
          {"puzzles", s.puzzles.size()},
          {"npcs", s.npcs.size()},
          {"endings", s.endings.size()}};
}

}  // namespace

bool gateway::route_mystery(net::http_request& req, const net::http_responder& respond) {
  const std::string& path = req.path;
  if (path == "/v1/mystery/scenarios") {
    if (req.method != "GET") {
      respond(error_response(errc::method_not_allowed));
      return true;
    }
    json::array list;
    if (mystery_) {
      for (const auto& [id, s] : mystery_->scenarios)
        list.push_back(scenario_json(*s));
    }
    respond(json_response(200, {{"scenarios", std::move(list)}}));
    return true;
  }

  // /v1/games/{id}/casebook[.md|.html]
  if (path.rfind(kGames, 0) != 0) return false;
  std::string_view rest = std::string_view(path).substr(kGames.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view tail = rest.substr(slash);
  enum class format { json, markdown, html } fmt;
  if (tail == kCasebook) {
    fmt = format::json;
  } else if (tail == "/casebook.md") {
    fmt = format::markdown;
  } else if (tail == "/casebook.html") {
    fmt = format::html;
  } else {
    return false;
  }
  if (req.method != "GET") {
    respond(error_response(errc::method_not_allowed));
    return true;
  }
  // A casebook is read as its game's record is (may_read_game): a token is needed, and a private
  // game's casebook is for its players only (404 to others, as for a game that does not exist).
  auto claims = auth_.authenticate(req.bearer_token());
  if (!claims) {
    respond(error_response(claims.error()));
    return true;
  }
  std::string id(rest.substr(0, slash));
  // The game first: whether the caller may read it decides (game_access.hpp).
  auto& casebooks = stores_.casebooks;
  stores_.games.find_game(id, [respond, id, who = *claims, fmt,
                               &casebooks](result<std::optional<store::game_record>> game) {
    if (!game) return respond(error_response(game.error()));
    if (!*game || !may_read_game(who, **game)) {
      return respond(error_response(error{errc::not_found, "No such game."}));
    }
    casebooks.find_casebook(
        id, [respond, fmt](result<std::optional<store::casebook_record>> found) {
          if (!found) return respond(error_response(found.error()));
          if (!*found) {
            return respond(
                error_response(error{errc::not_found,
                                     "No casebook for this game (yet: it is written after the "
                                     "game ends)."}));
          }
          const auto& c = **found;
          net::http_response r;
          // The text is the LLM's: it is never to be sniffed as anything else or to load anything.
          r.headers.emplace_back("X-Content-Type-Options", "nosniff");
          r.headers.emplace_back("Referrer-Policy", "no-referrer");
          if (fmt == format::markdown) {
            r.content_type = "text/markdown; charset=utf-8";
            r.body = c.markdown;
          } else if (fmt == format::html) {
            r.content_type = "text/html; charset=utf-8";
            r.headers.emplace_back("Content-Security-Policy", mystery::casebook_csp);
            r.body = mystery::casebook_html(c.title, c.language, c.markdown);
          } else {
            return respond(json_response(200, {{"game_id", c.game_id},
                                               {"title", c.title},
                                               {"language", c.language},
                                               {"author", c.author},
                                               {"markdown", c.markdown},
                                               {"created_at", c.created_ms}}));
          }
          respond(std::move(r));
        });
  });
  return true;
}

}  // namespace maratang::api
