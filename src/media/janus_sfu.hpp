// The sfu port (sfu.hpp) on Janus's videoroom plugin, over Janus's HTTP API and admin API, from
// the io_context's threads (never blocking the caller). See docs/DEPLOY.md ("Voice and video").
//
// One videoroom per speaker and game: its `allowed` list holds the tokens of the speaker and of
// those who may hear them, and it requires a private_id for subscriptions, so a browser can watch
// a speaker only through a participant it joined with an allowed token. When an audience grows,
// the new tokens are added to the list; when it shrinks, the room is destroyed (which hangs up
// every publisher and subscriber in it) and made again under a new number. Each member of a game
// gets one random token, added to Janus's token_auth store for the videoroom plugin and removed at
// the end of the game. Room secrets and the videoroom admin_key are known to Maratang alone.
//
// Health: every `check_ms` the admin API lists Janus's tokens. No answer: Janus is down (health()
// says so; the requests of the meantime are dropped, but for removals, kept to send again). An
// answer without Maratang's own token (Janus restarted and lost its state), or the first answer
// after being down: every live game's tokens and rooms are told again, with the same numbers,
// secrets and tokens (what exists already is refused, quietly): browsers join again with the
// grants they hold. A game
// moved to this process brings its rooms in its snapshot (save/adopt), made again the same way.
// Maratang's own token (for the Janus API) is the same across restarts of a node
// (janus_options::node_id), so crashes do not pile up tokens in Janus.
#pragma once

#include <memory>
#include <string>

#include "media/sfu.hpp"

namespace boost::asio {
class io_context;
}

namespace maratang::media {

struct janus_options {
  std::string url;           // Janus API, as Maratang reaches it: "http://127.0.0.1:8088/janus"
  std::string public_url;    // the same as browsers reach it; empty: `url`
  std::string admin_url;     // admin API: "http://127.0.0.1:7088/admin"
  std::string admin_secret;  // janus.jcfg general.admin_secret
  std::string admin_key;     // janus.plugin.videoroom.jcfg general.admin_key ("" none)
  int timeout_ms = 5000;     // each HTTP request
  int check_ms = 5000;       // how often Janus's health is checked; 0: never
  // This node's id (node.id): Maratang's own Janus token is derived from it and the admin
  // secret, so a node restarted after a crash uses the token it had rather than leaving one more
  // in Janus; empty: a random token.
  std::string node_id;
};

// Calls run on `io`'s threads; `io` must outlive the returned object.
std::shared_ptr<sfu> make_janus_sfu(boost::asio::io_context& io, janus_options o);

}  // namespace maratang::media
