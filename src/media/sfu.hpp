// The media port of the Mafia mode (seed 002's video call over a selective forwarding unit): the
// mode says, at each phase and death, who may hear each speaker; an implementation makes the SFU
// enforce exactly that, and tells each member's browser where and with what to join. Janus is the
// implementation (janus_sfu.hpp). Every method may be called from any thread, and none blocks:
// the SFU is told asynchronously, in the order of the calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace maratang::media {

// One speaker and every member who may hear them now.
struct speaker {
  std::int64_t id = 0;
  std::vector<std::int64_t> audience;
};

class sfu {
 public:
  virtual ~sfu() = default;
  // The policy of `game` from now on. Members of `speakers`' audiences and the speakers are given
  // credentials for this game (kept until end()); a member who may no longer hear a speaker loses
  // that speaker's stream at once, even a browser that asks the SFU for it directly.
  virtual void apply(std::string_view game, const std::vector<speaker>& speakers) = 0;
  // What `member`'s browser needs now: {url, token, publish: room, hear: [{player, room}]}, or an
  // empty object when the game has no policy yet. The rooms may still be being made: a join that
  // finds no room is retried by the client.
  virtual boost::json::object grant(std::string_view game, std::int64_t member) const = 0;
  // The game is over (or abandoned: an error, a shutdown, an operator): its rooms and credentials
  // are removed.
  virtual void end(std::string_view game) = 0;

  // A game that moves: its rooms and credentials as an object for its snapshot (empty when this
  // SFU knows no such game), so that the process that restores it adopts them instead of making
  // new ones, and every browser's grant stays good.
  virtual boost::json::object save(std::string_view game) const = 0;
  // Takes over `saved` (save()'s object, written by another process or before a restart): the
  // game's rooms and credentials are this one's from now on, made again on the SFU where they
  // are missing. The next apply() changes them as usual.
  virtual void adopt(std::string_view game, const boost::json::object& saved) = 0;
  // The game goes on in another process (handed over): forgotten here, its rooms left as they are.
  virtual void release(std::string_view game) = 0;
  // The SFU as last checked: {up, checked_at (ms since the epoch, 0: never), games, resyncs,
  // error?}. `resyncs`: how often the SFU was found to have lost what it was told (restarted),
  // and was told it all again.
  virtual boost::json::object health() const = 0;
};

// STUN and TURN servers for browsers: `ice_servers(member)` gives the RTCPeerConnection's
// iceServers, with time-limited TURN credentials (coturn's use-auth-secret scheme).
struct ice_options {
  std::vector<std::string> stun_urls;
  std::vector<std::string> turn_urls;
  std::string turn_secret;  // coturn's static-auth-secret; empty: no TURN
  int turn_ttl_s = 3600;
  // RTCPeerConnection iceTransportPolicy: "all", or "relay" (only through TURN, so that members
  // never learn each other's addresses).
  std::string transport_policy = "all";
};

// What the Mafia mode needs for its voice and video. `mode`: "mesh" (browsers connect to each
// other), "sfu" (through `sfu`), or "auto" (the SFU from `sfu_min_players` players on).
struct media_options {
  std::string mode = "mesh";
  int sfu_min_players = 7;
  std::shared_ptr<sfu> sfu_server;  // null: no SFU configured (mesh only)
  ice_options ice;
  std::function<std::int64_t()> now_s;  // the wall clock in seconds (TURN credential expiry)
};

// The iceServers array for `member`: STUN urls, then TURN urls with a username
// "<expiry>:<member>" and a credential base64(HMAC-SHA1(turn_secret, username)).
boost::json::array ice_servers(const ice_options& o, std::int64_t member, std::int64_t now_s);

}  // namespace maratang::media
