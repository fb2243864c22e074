#include "proto/messages.hpp"

#include <array>

namespace maratang::proto {

namespace {

using ft = field_type;
constexpr std::int64_t kMaxInt = INT64_MAX;

// --- Field lists -----------------------------------------------------------------------------

constexpr field_spec hello_fields[] = {
    {"version", ft::integer, true, 1, 1000, "Protocol version the client speaks (currently 1)."},
    {"client", ft::string, false, 0, 64, "Free-form client name and version, for logs."},
    {"batch", ft::boolean, false, 0, 0,
     "Accept batched messages: from then on, one WebSocket message may carry several "
     "envelopes separated by newlines (\\n). Fewer frames and system calls under load. Default "
     "false: one envelope per message."},
    {"encoding", ft::string, false, 1, 16,
     "`json` (the default) or `binary`: modes that have a binary encoding (Arena's states) send "
     "it in WebSocket binary frames. Requests may be sent either way whatever is chosen."},
};
constexpr field_spec time_sync_fields[] = {
    {"client_send", ft::integer, true, 0, kMaxInt,
     "Client clock when the request was sent, ms since the epoch."},
};
constexpr field_spec room_list_fields[] = {
    {"mode", ft::string, false, 1, 32, "Only rooms of this mode."},
};
constexpr field_spec room_create_fields[] = {
    {"mode", ft::string, true, 1, 32, "Game mode name (see GET /v1/modes)."},
    {"name", ft::string, true, 1, 40, "Room name shown in the list."},
    {"capacity", ft::integer, false, 1, 1000,
     "Seats; defaults to and is capped by the mode's maximum."},
    {"private", ft::boolean, false, 0, 0,
     "Hidden from the list; joined by invite code. Default false."},
    {"password", ft::string, false, 1, 64, "Required to join by id."},
    {"allow_spectators", ft::boolean, false, 0, 0, "Others may watch a game in progress."},
    {"settings", ft::object, false, 0, 0, "Mode settings; each mode documents its own."},
    {"party", ft::boolean, false, 0, 0,
     "Bring the sender's party (the sender leads it): every member sits down too, all or none "
     "(party.room tells each). Default false."},
};
constexpr field_spec room_join_fields[] = {
    {"room_id", ft::string, false, 1, 64, "The room to join (this or invite_code)."},
    {"invite_code", ft::string, false, 1, 16, "A private room's invite code."},
    {"password", ft::string, false, 0, 64, "The room password, if it has one."},
    {"spectate", ft::boolean, false, 0, 0, "Join as a spectator."},
    {"party", ft::boolean, false, 0, 0,
     "Bring the sender's party (the sender leads it): every member sits down too, all or none "
     "(party.room tells each). Not with spectate. Default false."},
};
constexpr field_spec room_ready_fields[] = {
    {"ready", ft::boolean, true, 0, 0, "true to mark ready, false to unmark."},
};
constexpr field_spec player_fields[] = {
    {"player", ft::integer, true, 1, kMaxInt, "The target player's account id."},
};
constexpr field_spec room_invite_fields[] = {
    {"player", ft::integer, false, 1, kMaxInt, "The invited account's id (this or nickname)."},
    {"nickname", ft::string, false, 1, 64, "The invited player's nickname, exactly as shown."},
};
constexpr field_spec invitation_from_fields[] = {
    {"id", ft::integer, true, 0, 0, "The inviting account."},
    {"nickname", ft::string, true, 0, 0, "Its nickname."},
};
constexpr field_spec invitation_fields[] = {
    {"room_id", ft::string, true, 0, 0, "The room."},
    {"name", ft::string, true, 0, 0, "Its name."},
    {"mode", ft::string, true, 0, 0, "Its mode."},
    {"invite_code", ft::string, true, 0, 0,
     "Joins it (room.join with invite_code), private and password rooms included."},
    {"from", ft::object, true, 0, 0, "Who invites.", invitation_from_fields},
};
constexpr field_spec room_chat_fields[] = {
    {"text", ft::string, true, 1, 500, "The message."},
};

constexpr field_spec party_accept_fields[] = {
    {"party_id", ft::integer, true, 1, kMaxInt, "The party of a party.invitation you received."},
};
constexpr field_spec party_join_fields[] = {
    {"code", ft::string, true, 1, 16, "The party's code (its members see it in party.get)."},
};
constexpr field_spec match_query_fields[] = {
    {"must", ft::object, false, 0, 0,
     "Property name -> value (string or number): every other ticket in the match has exactly "
     "this value."},
    {"should", ft::object, false, 0, 0,
     "Property name -> value: preferred, not required (tickets meeting more come first)."},
    {"ranges", ft::object, false, 0, 0,
     "Property name -> {min, max}: every other ticket has this property as a number within."},
};
constexpr field_spec match_start_fields[] = {
    {"mode", ft::string, true, 1, 32, "The game mode (mafia, arena, mystery, ...)."},
    {"properties", ft::object, false, 0, 0,
     "What others' queries look at: up to 16 names (1-32 characters) -> a string (up to 64 "
     "characters) or a finite number, e.g. {\"region\":\"eu\",\"level\":12}."},
    {"query", ft::object, false, 0, 0,
     "What this ticket asks of every other ticket in its match; up to 16 clauses in all. Both "
     "sides of a match satisfy each other's query.",
     match_query_fields},
    {"settings", ft::object, false, 0, 0,
     "The room's mode settings, as room.create takes them (no seed); default: the mode's. "
     "Tickets are matched only with tickets asking for the same settings (e.g. one Mystery "
     "scenario)."},
    {"min_players", ft::integer, false, 1, 1000,
     "Fewest players in the match (default and floor: the mode's minimum)."},
    {"max_players", ft::integer, false, 1, 1000,
     "Most players in the match (default and cap: the mode's maximum)."},
};

// Event data
constexpr field_spec member_fields[] = {
    {"member", ft::object, true, 0, 0,
     "The member: {id, nickname, ready, leader, connected, spectator}."},
};
constexpr field_spec member_left_fields[] = {
    {"player", ft::integer, true, 1, kMaxInt, "Who left."},
    {"reason", ft::string, true, 0, 0, "left | kicked | timeout | disconnected"},
};
constexpr field_spec member_ready_fields[] = {
    {"player", ft::integer, true, 1, kMaxInt, "Who."},
    {"ready", ft::boolean, true, 0, 0, "Their new ready flag."},
};
constexpr field_spec leader_fields[] = {
    {"player", ft::integer, true, 1, kMaxInt, "The new leader."},
};
constexpr field_spec can_start_fields[] = {
    {"can_start", ft::boolean, true, 0, 0, "Whether the leader may start now."},
    {"reason", ft::string, false, 0, 0, "Error code saying why not (too_few_players, not_ready)."},
};
constexpr field_spec chat_event_fields[] = {
    {"from", ft::integer, true, 1, kMaxInt, "Sender's account id."},
    {"nickname", ft::string, true, 0, 0, "Sender's nickname."},
    {"text", ft::string, true, 0, 0, "The message."},
    {"ts", ft::integer, true, 0, kMaxInt, "Server time it was sent, ms since the epoch."},
};
constexpr field_spec connection_fields[] = {
    {"player", ft::integer, true, 1, kMaxInt, "Who."},
    {"connected", ft::boolean, true, 0, 0, "Whether their connection is up."},
    {"seat_kept_until", ft::integer, false, 0, kMaxInt,
     "When disconnected: the absolute server time their seat is given up."},
};
constexpr field_spec reason_fields[] = {
    {"reason", ft::string, true, 0, 0, "Why, as a stable code."},
    {"message", ft::string, false, 0, 0, "Human-readable detail."},
};
constexpr field_spec game_started_fields[] = {
    {"mode", ft::string, true, 0, 0, "The mode now playing."},
    {"game_id", ft::string, true, 0, 0, "Id of the game record."},
};
constexpr field_spec game_ended_fields[] = {
    {"game_id", ft::string, true, 0, 0, "Id of the stored game record (GET /v1/games/{id})."},
    {"result", ft::object, true, 0, 0, "The mode's public result."},
};
constexpr field_spec shutdown_fields[] = {
    {"reconnect_after_ms", ft::integer, true, 0, kMaxInt, "Suggested wait before reconnecting."},
};

constexpr field_spec party_invitation_fields[] = {
    {"party_id", ft::integer, true, 1, kMaxInt, "The party (party.accept with it)."},
    {"code", ft::string, true, 0, 0, "Its code (party.join with it)."},
    {"from", ft::object, true, 0, 0, "Who invites.", invitation_from_fields},
    {"expires_at", ft::integer, true, 0, kMaxInt, "When the invitation ends (server time)."},
};
constexpr field_spec party_member_fields[] = {
    {"member", ft::object, true, 0, 0, "The member: {id, nickname, online, room_id}."},
};
constexpr field_spec party_member_left_fields[] = {
    {"player", ft::integer, true, 1, kMaxInt, "Who left."},
    {"reason", ft::string, true, 0, 0, "left | kicked"},
};
constexpr field_spec party_presence_fields[] = {
    {"player", ft::integer, true, 1, kMaxInt, "Which member."},
    {"online", ft::boolean, true, 0, 0, "Whether they are connected."},
    {"room_id", ft::string, false, 0, 0, "The room they sit in, or null."},
};
constexpr field_spec party_room_fields[] = {
    {"room", ft::object, true, 0, 0,
     "The room snapshot, as room.join answers it: the receiver sits in it. Null with `moved`."},
    {"by", ft::integer, true, 1, kMaxInt, "The party's leader, who brought the party."},
    {"moved", ft::object, false, 0, 0,
     "Several nodes: the room is on another node, where the receiver's seat is held for "
     "rooms.reservation_ms: {node, ws, room_id}; connect to the path `ws` with the same token, "
     "and that hello's room is the snapshot (the SDK follows it)."},
};
constexpr field_spec party_removed_fields[] = {
    {"party_id", ft::integer, true, 1, kMaxInt, "The party."},
    {"reason", ft::string, true, 0, 0, "kicked"},
};
constexpr field_spec match_searching_fields[] = {
    {"ticket", ft::integer, true, 1, kMaxInt, "The party's ticket."},
    {"mode", ft::string, true, 0, 0, "The mode it waits for."},
    {"players", ft::array, true, 0, 0, "The accounts on the ticket."},
};
constexpr field_spec match_found_fields[] = {
    {"match_id", ft::string, true, 0, 0, "The match."},
    {"room_id", ft::string, true, 0, 0, "Its room, where a seat is reserved for you."},
    {"mode", ft::string, true, 0, 0, "The mode."},
    {"players", ft::array, true, 0, 0, "Every account in the match."},
    {"join_by", ft::integer, true, 0, kMaxInt,
     "Send match.join before this (server time), or the seat is freed."},
};
constexpr field_spec match_cancelled_fields[] = {
    {"reason", ft::string, true, 0, 0,
     "cancelled (by match.cancel), expired (matchmaker.ticket_ttl_ms), no_show (you, or someone "
     "of your party, did not join a match in time), party_changed, disconnected, failed (the "
     "room could not be made; several nodes: the node running the matchmaker went away — "
     "queue again)."},
};
constexpr field_spec match_requeued_fields[] = {
    {"match_id", ft::string, true, 0, 0,
     "The match that did not happen: someone else did not join in time. Your ticket is back, "
     "at the front of the queue."},
};

// REST bodies
constexpr field_spec device_body[] = {
    {"device_id", ft::string, true, 8, 128, "A stable id the client generated for this device."},
};
constexpr field_spec email_body[] = {
    {"email", ft::string, true, 3, 254, "Email address (compared case-insensitively)."},
    {"password", ft::string, true, 8, 128, "Password, at least 8 characters."},
};
constexpr field_spec refresh_body[] = {
    {"refresh_token", ft::string, true, 1, 256, "The refresh token of the session."},
};
constexpr field_spec nickname_body[] = {
    {"nickname", ft::string, true, 1, 64, "The wanted nickname."},
};
constexpr field_spec time_body[] = {
    {"client_send", ft::integer, false, 0, kMaxInt, "Client clock at sending, ms since the epoch."},
};

// Traces (seed 003's GameDB). Limits here are the defaults of the traces.* settings.
constexpr field_spec trace_obj_fields[] = {
    {"u_uuid", ft::string, true, 1, 64, "The player's own user id."},
    {"o_type", ft::integer, true, INT32_MIN, INT32_MAX, "Object type."},
    {"o_pos", ft::string, true, 0, 128,
     "Position, \"x,y,z\" (three numbers make it findable by near queries)."},
    {"o_rot", ft::string, true, 0, 128, "Rotation, \"x,y,z\"."},
};
constexpr field_spec trace_message_fields[] = {
    {"u_uuid", ft::string, true, 1, 64, "The player's own user id."},
    {"part1", ft::string, true, 0, 256, "Message part 1."},
    {"part2", ft::string, true, 0, 256, "Message part 2."},
    {"part3", ft::string, true, 0, 256, "Message part 3."},
    {"pos", ft::string, false, 0, 128,
     "Extension: where the message lies, \"x,y,z\" (default: the object's o_pos)."},
};
constexpr field_spec trace_phantom_fields[] = {
    {"u_uuid", ft::string, true, 1, 64, "The player's own user id."},
    {"data", ft::array, true, 0, 0,
     "The recording: up to traces.phantom_points_max (2000) entries, each an array of up to 8 "
     "numbers or strings of at most 128 characters, e.g. [[\"pos1\", \"rot1\"], ...]. A first "
     "value \"x,y,z\" places the phantom for near queries."},
};
constexpr field_spec trace_add_body[] = {
    {"obj", ft::object, false, 0, 0, "A placed object (this or message, or both).",
     trace_obj_fields},
    {"message", ft::object, false, 0, 0, "A message in three parts (this or obj, or both).",
     trace_message_fields},
    {"phantom", ft::object, true, 0, 0, "A recording of the player's movement.",
     trace_phantom_fields},
};
constexpr field_spec trace_page_query[] = {
    {"limit", ft::integer, false, 1, 100, "Traces at most (default 20)."},
    {"before", ft::integer, false, 1, kMaxInt, "Only ids below this (the previous next_before)."},
};
constexpr std::string_view kBoardDoc =
    "A leaderboard's name, as GET /v1/leaderboards lists them (e.g. rating.mafia, arena.kills, "
    "mystery.escape.gull_rock).";
constexpr field_spec leaderboard_get_fields[] = {
    {"board", ft::string, true, 1, 100, kBoardDoc},
    {"season", ft::integer, false, 0, kMaxInt,
     "A season's id (when it began, ms since the epoch); default: the current one."},
    {"offset", ft::integer, false, 0, 1000000000,
     "Entries to skip (default 0): rank offset+1 first."},
    {"limit", ft::integer, false, 1, 100, "Entries at most (default 20)."},
};
constexpr field_spec leaderboard_around_fields[] = {
    {"board", ft::string, true, 1, 100, kBoardDoc},
    {"season", ft::integer, false, 0, kMaxInt,
     "A season's id (when it began, ms since the epoch); default: the current one."},
    {"radius", ft::integer, false, 0, 50,
     "Entries above and below yours (default 5; 0: yours alone)."},
};
constexpr field_spec rating_get_fields[] = {
    {"player", ft::integer, false, 1, kMaxInt, "Whose ratings (default: yours)."},
};
constexpr field_spec rating_history_query[] = {
    {"limit", ft::integer, false, 1, 100, "Games at most (default 20)."},
    {"before", ft::integer, false, 1, kMaxInt,
     "Only games that ended before this (ms since the epoch): the last one's ended_at."},
};
constexpr field_spec moderation_query[] = {
    {"hidden", ft::boolean, false, 0, 0,
     "true: only hidden traces; false (default): every trace with a report."},
    {"limit", ft::integer, false, 1, 100, "Traces at most (default 50)."},
    {"before", ft::integer, false, 1, kMaxInt, "Only ids below this (the previous next_before)."},
};
constexpr field_spec audit_query[] = {
    {"limit", ft::integer, false, 1, 100, "Entries at most (default 50)."},
    {"before", ft::integer, false, 1, kMaxInt, "Only ids below this (the previous next_before)."},
};
constexpr field_spec admin_players_query[] = {
    {"limit", ft::integer, false, 1, 1000, "Players at most (default 100)."},
    {"after", ft::integer, false, 1, kMaxInt, "Only ids above this (the previous next_after)."},
};
constexpr field_spec admin_action_body[] = {
    {"message", ft::string, false, 0, 500,
     "Why, in the operator's words: shown to the players concerned and kept in the audit log."},
};
constexpr field_spec admin_ban_body[] = {
    {"message", ft::string, false, 0, 500,
     "Why, in the operator's words: told to the account when it tries to log in, and kept in the "
     "audit log."},
    {"until", ft::integer, false, 1, kMaxInt,
     "When the ban ends (ms since the epoch); absent: until unbanned."},
};
constexpr field_spec admin_metrics_query[] = {
    {"minutes", ft::integer, false, 1, 60, "How far back (default 60)."},
};
constexpr field_spec trace_near_query[] = {
    {"x", ft::string, true, 0, 0, "Centre x (a number)."},
    {"y", ft::string, true, 0, 0, "Centre y (a number)."},
    {"z", ft::string, true, 0, 0, "Centre z (a number)."},
    {"radius", ft::string, true, 0, 0, "Distance at most (a number above 0)."},
    {"limit", ft::integer, false, 1, 100, "Traces of each kind at most (default 20)."},
};
constexpr field_spec trace_appraise_body[] = {
    {"value", ft::integer, true, -1, 1, "1 (good) or -1 (bad); replaces your earlier appraisal."},
};

constexpr std::string_view kSnapshotDoc =
    "`{room}`: `room` is the room snapshot `{id, name, mode, state, capacity, private, "
    "invite_code?, "
    "has_password, allow_spectators, leader, members:[member], can_start, settings, game?}` where "
    "game is the mode's view for this player when a game is running.";

// --- The tables ------------------------------------------------------------------------------

constexpr message_spec messages[] = {
    {"hello", direction::request, "First message on a connection: negotiates the version.",
     hello_fields,
     "`{version, server_time, account:{id, nickname}, limits:{max_message_bytes, "
     "messages_per_second, inputs_per_second}, room, moved?}`; room is the snapshot of the room "
     "the player still has a seat in (after a reconnect), or null. Several nodes: when the seat is "
     "in a room of another node, room is null and moved is `{node, ws, room_id}`: connect to the "
     "path `ws` (the same token) and say hello there; with no seat, when the player is in a "
     "party kept by another node, moved is `{node, ws, room_id: null}` alike.",
     false},
    {"time.sync", direction::request,
     "NTP-style clock sync: offset = ((server_recv - client_send) + (server_send - "
     "client_recv)) / 2.",
     time_sync_fields, "`{client_send, server_recv, server_send}`, all ms since the epoch.", false},
    {"room.list", direction::request, "Lists open public rooms.", room_list_fields,
     "`{rooms:[{id, name, mode, state, players, capacity, has_password, allow_spectators}]}`",
     false},
    {"room.create", direction::request, "Creates a room and joins it as its leader.",
     room_create_fields, kSnapshotDoc, false},
    {"room.join", direction::request,
     "Joins a room by id or invite code. A room password may be guessed wrong 5 times a minute "
     "per account: the next tries answer rate_limited until the minute is over. Several nodes: a "
     "room of another node is joined there; the seat is reserved for rooms.reservation_ms and the "
     "reply is `{moved:{node, ws, room_id}}` instead: connect to the path `ws` with the same "
     "token, and that hello's room is the snapshot. With party: true, all the party's members "
     "must be connected to this node, seated nowhere and not matchmaking, and the room must have "
     "a seat for each (room_full); a room of another node reserves every seat or none, the "
     "reply is `{moved}` as above, and each member gets party.room with `moved`.",
     room_join_fields, kSnapshotDoc, false},
    {"room.leave",
     direction::request,
     "Leaves the current room (giving up the seat). Replied once the leave is applied: when it "
     "ended the game (the last player out), a read of that game after the reply finds its record.",
     {},
     "`{}`",
     true},
    {"room.ready", direction::request, "Marks or unmarks the sender ready.", room_ready_fields,
     "`{}`", true},
    {"room.kick", direction::request, "Leader only: removes a member.", player_fields, "`{}`",
     true},
    {"room.invite", direction::request,
     "Invites a player online on this server to the sender's room (any member may): they get "
     "room.invitation with the room's invite code, which lets them in (a private room, a password "
     "room) with room.join. unknown_player when nobody by that id or nickname is online; "
     "already_in_room when they sit in this room; rate_limited past 10 invitations a minute per "
     "member (rooms.invites_per_minute). Several nodes: a player connected to another node is "
     "reached through it, by id or by nickname (a nickname nobody on this node has is looked up "
     "in storage by the nickname rules' key, so any case of the name finds the account); "
     "unavailable when Redis or that node does not answer in time.",
     room_invite_fields, "`{player}`: the invited account's id", true},
    {"room.transfer", direction::request,
     "Leader only (not_leader): hands leadership to another member. not_in_party; bad_target "
     "when they are not a member.",
     player_fields, "`{}`", true},
    {"room.start",
     direction::request,
     "Leader only: starts the game once the mode's minimum is met and everyone else is ready.",
     {},
     "`{game_id}`",
     true},
    {"room.chat", direction::request, "Sends a chat line to the room (lobby chat).",
     room_chat_fields, "`{}`", true},
    {"leaderboard.get", direction::request,
     "A leaderboard's entries of one season, best first, a page at a time (as GET "
     "/v1/leaderboards/{board}).",
     leaderboard_get_fields,
     "`{board, season, season_starts_at, season_ends_at, total, entries:[{rank, account_id, "
     "nickname, "
     "value, reached_at}]}`; unknown_leaderboard when no such board."},
    {"leaderboard.around", direction::request,
     "Your rank on a leaderboard and the entries around it (as GET "
     "/v1/leaderboards/{board}/around).",
     leaderboard_around_fields,
     "`{board, season, season_starts_at, season_ends_at, total, me:{rank, account_id, nickname, "
     "value, reached_at}|null, entries:[...]}`; me is null (and entries empty) when you have no "
     "entry. nickname: the "
     "account's, or null when it has none."},
    {"rating.get", direction::request,
     "A player's ratings, computed by the server from stored games (as GET "
     "/v1/accounts/{id}/ratings).",
     rating_get_fields,
     "`{account_id, ratings:{<key>:{model, mu, sigma, volatility?, display, "
     "games, last_played_at}}}`"},

    {"party.create",
     direction::request,
     "Creates a party with the sender as its leader. One party per account: already_in_party "
     "when the sender is in one. Several nodes: the party lives on the sender's node, and its "
     "members play from there (party.accept, party.join and a hello through another node send "
     "them there: `moved`).",
     {},
     "`{party}`: `{id, code, leader, max_size, members:[{id, nickname, online, room_id}]}`"},
    {"party.invite", direction::request,
     "Invites an online player to the sender's party (any member may): they get "
     "party.invitation. unknown_player when they are not online; not_in_party when the sender "
     "is in none; party_full; already_in_party when they are in it.",
     room_invite_fields, "`{player}`"},
    {"party.accept", direction::request,
     "Joins the party of an invitation received (parties.invite_ttl_ms): no_invitation when "
     "there is none, unknown_party when the party is gone; already_in_party when the sender is "
     "in one; party_full. A ticket of the party ends (party_changed). Several nodes: when the "
     "party lives on another node, the reply is `{party, moved:{node, ws, room_id: null}}`: "
     "connect to the path `ws` with the same token (a later hello through any node sends you "
     "there while you are in the party); unavailable when that node cannot be reached.",
     party_accept_fields, "`{party, moved?}`"},
    {"party.join", direction::request,
     "Joins a party by its code, without an invitation: unknown_party when no party has it; "
     "otherwise the same errors as party.accept, and the same `moved` when the party lives on "
     "another node.",
     party_join_fields, "`{party, moved?}`"},
    {"party.leave",
     direction::request,
     "Leaves the party; a leader's role passes to the member who joined first; an empty party "
     "is gone. not_in_party when the sender is in none.",
     {},
     "`{}`"},
    {"party.kick", direction::request,
     "Leader only (not_leader): removes a member (party.removed to them). not_in_party; "
     "bad_target when they are not a member.",
     player_fields, "`{}`"},
    {"party.transfer", direction::request,
     "Leader only (not_leader): hands leadership to another member. not_in_party; bad_target "
     "when they are not a member.",
     player_fields, "`{}`"},
    {"party.chat", direction::request,
     "Sends a chat line to every member (party.chat). not_in_party.", room_chat_fields, "`{}`"},
    {"party.get",
     direction::request,
     "The sender's party with its members' presence.",
     {},
     "`{party}`: as party.create's, with `chat` (the last lines), or null."},
    {"match.start", direction::request,
     "Queues for a match: the sender alone, or the sender's whole party (leader only: "
     "not_leader), which is never split. One live ticket per account or party "
     "(already_matchmaking). Tickets are matched by rating when the mode rates its players (a "
     "window "
     "that widens with waiting time: matchmaker.window_*) and by random pick otherwise; a match "
     "takes the most players every ticket allows, or, once its oldest ticket has waited "
     "matchmaker.accept_min_after_ms, at least the least. A ticket expires after "
     "matchmaker.ticket_ttl_ms (match.cancelled). already_matchmaking when the sender or a "
     "member is queued or matched; out_of_order when a member is offline or in a room; "
     "already_in_room when the sender sits in one. Several nodes: one node runs the matchmaker "
     "of the whole cluster and the ticket is queued there, so players of every node meet; "
     "unavailable while that node cannot be reached (Redis away).",
     match_start_fields, "`{ticket, mode, players}`"},
    {"match.cancel",
     direction::request,
     "Ends the sender's ticket (a party's: any member). not_matchmaking when there is none; "
     "match_formed when it became a match (match.join it).",
     {},
     "`{}`"},
    {"match.join",
     direction::request,
     "Takes the seat a match reserved for the sender (after match.found, before its join_by). "
     "Once every player has joined, the game starts. no_match when no seat waits (or it is not "
     "held any more); out_of_order while the room is still being made. Several nodes: the room "
     "is made on the node most of the match's players are connected to (ties taken in turn), "
     "so most take their seat where they are; when it is on another node, the reply is "
     "`{moved:{node, ws, room_id}}` instead: "
     "connect to the path `ws` with the same token, and that hello's room is the snapshot "
     "(the hello takes the seat).",
     {},
     kSnapshotDoc},

    {"room.member_joined", direction::event, "Someone joined the room.", member_fields, {}, true},
    {"room.member_left", direction::event, "Someone left the room.", member_left_fields, {}, true},
    {"room.member_ready",
     direction::event,
     "Someone's ready flag changed.",
     member_ready_fields,
     {},
     true},
    {"room.member_connection",
     direction::event,
     "Someone's connection dropped (seat kept until a deadline) or came back.",
     connection_fields,
     {},
     true},
    {"room.leader_changed",
     direction::event,
     "The room has a new leader.",
     leader_fields,
     {},
     true},
    {"room.can_start",
     direction::event,
     "Whether the leader may start changed.",
     can_start_fields,
     {},
     true},
    {"room.chat", direction::event, "A chat line.", chat_event_fields, {}, true},
    {"room.game_started",
     direction::event,
     "The game began; mode events follow.",
     game_started_fields,
     {},
     true},
    {"room.game_ended",
     direction::event,
     "The game ended; the room waits again, ready flags reset.",
     game_ended_fields,
     {},
     true},
    {"room.invitation",
     direction::event,
     "A player invites the receiver to their room. Nothing changes until the receiver joins.",
     invitation_fields,
     {},
     false},
    {"room.removed",
     direction::event,
     "The receiver is no longer in the room. Reasons: kicked (by the leader), kicked_by_admin, "
     "timeout or disconnected (the seat was not reclaimed in time), empty, closed_by_admin, "
     "shutdown; `message` carries an operator's words.",
     reason_fields,
     {},
     false},
    {"party.invitation",
     direction::event,
     "A player invites the receiver to their party (party.accept or party.join).",
     party_invitation_fields,
     {},
     false},
    {"party.member_joined",
     direction::event,
     "Someone joined the party.",
     party_member_fields,
     {},
     false},
    {"party.member_left",
     direction::event,
     "Someone left the party.",
     party_member_left_fields,
     {},
     false},
    {"party.leader_changed",
     direction::event,
     "The party has a new leader.",
     leader_fields,
     {},
     false},
    {"party.chat", direction::event, "A party chat line.", chat_event_fields, {}, false},
    {"party.presence",
     direction::event,
     "A member came online, went offline, or took or gave up a seat in a room.",
     party_presence_fields,
     {},
     false},
    {"party.room",
     direction::event,
     "The party's leader took the party into a room (room.create or room.join with party: "
     "true): the receiver sits in it now, as after a room.join.",
     party_room_fields,
     {},
     false},
    {"party.removed",
     direction::event,
     "The receiver was removed from their party.",
     party_removed_fields,
     {},
     false},
    {"match.searching",
     direction::event,
     "The receiver's party leader queued the party (match.start).",
     match_searching_fields,
     {},
     false},
    {"match.found",
     direction::event,
     "A match was formed and its room made: answer with match.join before join_by.",
     match_found_fields,
     {},
     false},
    {"match.cancelled",
     direction::event,
     "The receiver's ticket ended without a match.",
     match_cancelled_fields,
     {},
     false},
    {"match.requeued",
     direction::event,
     "A match was dissolved because another player did not join in time; the receiver's "
     "ticket is queued again, at the front.",
     match_requeued_fields,
     {},
     false},
    {"session.closed",
     direction::event,
     "Sent just before the server closes this connection. Reasons: replaced (the account "
     "connected again), logged_out, rate_limited, hello_timeout (no hello within "
     "limits.handshake_timeout_ms), unauthorized, unavailable, shutdown, disconnected_by_admin, "
     "banned (`message` says why) and room_moved (several nodes: the room runs on another node "
     "now; reconnect, and the hello sends you there).",
     reason_fields,
     {},
     false},
    {"server.shutdown",
     direction::event,
     "The server is going down; reconnect later.",
     shutdown_fields,
     {},
     false},
};

constexpr endpoint_spec endpoints[] = {
    {"GET", "/health", false, "Liveness.", {}, "`{\"status\":\"healthy\"}`"},
    {"GET",
     "/ready",
     false,
     "Readiness: 200 when storage answers, else 503.",
     {},
     "`{\"status\":\"ready\"}` or an error."},
    {"GET", "/metrics", false, "Prometheus text format metrics.", {}, "text/plain; version=0.0.4"},
    {"GET", "/v1/time", false,
     "Server time (HTTP form of time.sync; client_send as a query "
     "parameter).",
     time_body, "`{client_send?, server_recv, server_send}`"},
    {"GET",
     "/v1/modes",
     false,
     "Game modes this server runs.",
     {},
     "`{modes:[{name, min_players, max_players}]}`"},
    {"POST", "/v1/auth/device", false,
     "Guest login: the device id becomes an account. New accounts per client address are "
     "limited (auth.signups_per_hour, auth.signup_burst; shared with registration): beyond, 429 "
     "rate_limited with Retry-After. Logging in to an existing device account is not limited.",
     device_body, "`{account_id, token, refresh_token, expires_at, created}`"},
    {"POST", "/v1/auth/register", false,
     "Creates an email + password account and logs in. The password must be 8 characters or "
     "more, not only spaces nor one character repeated, not the email or its local part, and "
     "not a common password (auth.password_lists): else 400 weak_password. An email that has an "
     "account answers 409 account_exists; every attempt counts against the client address's "
     "sign-up allowance (429 rate_limited with Retry-After), which bounds how fast anyone can "
     "learn which emails have accounts.",
     email_body, "`{account_id, token, refresh_token, expires_at, created}`"},
    {"POST", "/v1/auth/login", false,
     "Email + password login. Failed logins back off per email (after auth.login_free_failures) "
     "and per client address (after auth.address_free_failures): each further attempt must wait "
     "auth.backoff_ms, doubling up to auth.backoff_max_ms, and until then is refused with 429 "
     "rate_limited and Retry-After, even with the right password. A successful login clears the "
     "email's count. 429 too when too many password checks are waiting (auth.hash_queue_max).",
     email_body, "`{account_id, token, refresh_token, expires_at, created}`"},
    {"POST", "/v1/auth/refresh", false,
     "Trades a refresh token for a new token pair (the old refresh token stops working).",
     refresh_body, "`{account_id, token, refresh_token, expires_at}`"},
    {"POST",
     "/v1/auth/logout",
     true,
     "Revokes the session: its tokens stop working everywhere.",
     {},
     "`{}`"},
    {"GET",
     "/v1/account",
     true,
     "The caller's account.",
     {},
     "`{id, nickname, email?, device?, created_at, admin?}` (admin: true for admin accounts)"},
    {"PUT", "/v1/account/nickname", true, "Sets the caller's nickname.", nickname_body,
     "`{nickname}`"},
    {"GET",
     "/v1/nicknames/{nickname}",
     false,
     "Whether a nickname is valid and free.",
     {},
     "`{nickname, available}` or nickname_invalid."},
    {"GET",
     "/v1/rooms",
     false,
     "Open public rooms (query: mode).",
     {},
     "`{rooms:[...]}` as room.list."},
    {"GET",
     "/v1/games/{id}",
     true,
     "One stored game record. A public room's game: any signed-in account may read it; a private "
     "room's game: only its players (404 not_found to others, as for a game that does not "
     "exist).",
     {},
     "`{id, mode, room_id, started_at, ended_at, players, record}`"},
    {"GET",
     "/v1/games/{id}/casebook",
     true,
     "A finished Mystery game's casebook (`.md`: text/markdown; `.html`: a page of text and "
     "formatting only, no links or images, sent with a Content-Security-Policy that loads "
     "nothing). Read as the game's record is: a public room's by any signed-in account, a "
     "private room's by its players only (404 not_found to others). Written after the game "
     "ends; 404 not_found until it is stored (the room is told: mystery.casebook).",
     {},
     "`{game_id, title, language, author, markdown, created_at}`"},
    {"GET",
     "/v1/mystery/scenarios",
     false,
     "The Mystery scenarios this server loaded (choose one in the room settings: scenario).",
     {},
     "`{scenarios:[{id, title, language, summary, players:{min,max}, turn_limit, minutes, "
     "locations, puzzles, npcs, endings}]}`"},
    {"GET",
     "/v1/accounts/{id}/games",
     true,
     "A player's games, newest first (query: limit, before). The player sees all their games; "
     "any other signed-in account only their public-room games.",
     {},
     "`{games:[...]}`"},
    {"GET",
     "/v1/accounts/{id}/stats",
     true,
     "A player's statistics, per mode they played. Every player seated when a game started played "
     "it once: `played` = `won` + `lost` + `drawn` + `abandoned`. `abandoned`: the player left "
     "before the game ended (room.leave, or their reconnect grace ran out), or the server aborted "
     "the game (`aborted`: error, shutdown). The others won, lost or drew as the mode decides. "
     "Mafia: won when the player's side won, alive or dead at the end; lost when the other side "
     "won; a draw (max_days) is drawn; `wins_by_role: {role: n}` counts each win's role. Mystery: "
     "everyone still in the game shares its ending, alive or dead: a `good` ending is won, `bad` "
     "lost, `neutral` drawn; `endings: {\"scenario/ending\": n}` counts the endings reached. "
     "`time_played_ms`: from each game's start to its end, or to when the player left. A game "
     "counts once, in the transaction that stores its record. Private-room games count too, and "
     "any signed-in account may read anyone's statistics: they name no game and no other player "
     "(but a player watching them can tell that a game was played). A mode the player never "
     "played is absent (read it as zeros); games stored before schema version 9 are not counted.",
     {},
     "`{account_id, modes:{<mode>:{played, won, lost, drawn, abandoned, time_played_ms, "
     "<tallies>}}}`: mafia has `wins_by_role`, mystery `endings`, each `{key: n}` (`{}` when "
     "none)."},
    {"GET",
     "/v1/leaderboards",
     false,
     "The leaderboards this server keeps, and the current season. A season starts at each firing "
     "of competition.season_schedule (cron, UTC) and is named by that moment (ms since the "
     "epoch); each season's boards start empty, and earlier seasons stay readable. Rating boards "
     "(rating.<key>) show each player's display rating after their last rated game of the season; "
     "score boards their season's score (arena.kills: summed; mystery.escape.<scenario>: the "
     "fastest good ending, ms, lower first). Ties: the entry that reached its value first ranks "
     "higher, then the lower account id; every entry has its own rank.",
     {},
     "`{season:{id, starts_at, ends_at|null, schedule}, boards:[{name, mode, ascending, "
     "summary}]}`"},
    {"GET", "/v1/leaderboards/{board}", false,
     "A leaderboard's entries of one season, best first, a page at a time.", leaderboard_get_fields,
     "`{board, season, season_starts_at, season_ends_at, total, entries:[{rank, account_id, "
     "nickname, "
     "value, reached_at}]}`; 404 unknown_leaderboard when no such board."},
    {"GET", "/v1/leaderboards/{board}/around", true,
     "Your rank on a leaderboard and the entries up to `radius` above and below it.",
     leaderboard_around_fields,
     "`{board, season, season_starts_at, season_ends_at, total, me:{rank, account_id, nickname, "
     "value, reached_at}|null, entries:[...]}`"},
    {"GET",
     "/v1/leaderboards/{board}/seasons",
     false,
     "The seasons a leaderboard has entries in, newest first: the current one and the archive.",
     {},
     "`{board, seasons:[{id, starts_at, ends_at|null, current}]}`"},
    {"GET",
     "/v1/accounts/{id}/ratings",
     true,
     "A player's ratings, computed by the server from stored games only (never sent by a "
     "client), one per rating key: mafia (Weng-Lin, town against mafia), arena (Weng-Lin, "
     "placements), arena_1v1 (Glicko-2, games of two). `display` is the conservative rating shown "
     "to players (Weng-Lin: mu - 3 sigma; Glicko-2: r - 2 RD); mu, sigma (and volatility for "
     "Glicko-2) are the full model. Uncertainty is as of the last rated game; it grows by the "
     "idle rating periods at the next one.",
     {},
     "`{account_id, ratings:{<key>:{model: weng_lin|glicko2, mu, sigma, volatility?, display, "
     "games, last_played_at}}}`"},
    {"GET", "/v1/accounts/{id}/ratings/{key}", true,
     "What each rated game changed in a player's rating under one key, newest first.",
     rating_history_query,
     "`{account_id, key, history:[{game_id, ended_at, before:{mu, sigma, display}, after:{mu, "
     "sigma, display}}]}`"},
    {"GET",
     "/openapi.json",
     false,
     "This list as an OpenAPI 3 document (generated from src/proto/messages.cpp).",
     {},
     "application/json: the OpenAPI document."},
    {"GET",
     "/docs",
     false,
     "Interactive API documentation (Swagger UI, served from docs.assets_dir).",
     {},
     "text/html, or 503 unavailable when the Swagger UI assets are not installed."},
    {"GET", "/docs/{file}", false, "Swagger UI assets.", {}, "The file, or 404 not_found."},
    {"GET",
     "/get-objects",
     false,
     "GameDB (seed 003): the latest 200 objects, 200 messages and 20 phantoms of the default "
     "area, newest first. Served from a cache (at most traces.cache_max_age_ms old, refreshed "
     "when traces arrive); gzip'd when Accept-Encoding allows; ETag / If-None-Match gives 304.",
     {},
     "`{objects:[{id, u_uuid, o_type, o_pos, o_rot}], messages:[{id, u_uuid, part1, part2, "
     "part3}], phantoms:[{id, u_uuid, data}]}`"},
    {"POST", "/add-object", false,
     "GameDB (seed 003): stores an object and/or a message, and a phantom, in the default "
     "area. 200 only once committed to storage. Invalid input: 422 naming every bad field "
     "(nothing is stored). Limited per client address (traces.anon_writes_per_minute).",
     trace_add_body,
     "`{status:\"success\", ids:{obj?, message?, phantom}}`; 422 "
     "`{error:{code, message, fields:[{field, code, message}]}, detail:[{loc, msg, type}]}`"},
    {"GET",
     "/v1/traces/areas/{area}",
     false,
     "The latest traces of an area (as /get-objects, each with created_at, pos when known, and "
     "rating and votes for messages). Cached, gzip'd, ETag.",
     {},
     "`{objects:[...], messages:[...], phantoms:[...]}`"},
    {"POST", "/v1/traces/areas/{area}", true,
     "Stores traces in an area, as /add-object, for the caller's account "
     "(traces.account_writes_per_minute).",
     trace_add_body, "`{status:\"success\", ids:{obj?, message?, phantom}}`; 422 as /add-object"},
    {"GET", "/v1/traces/areas/{area}/objects", false,
     "An area's objects, newest first, a page at a time.", trace_page_query,
     "`{items:[...], next_before: id|null}`"},
    {"GET", "/v1/traces/areas/{area}/messages", false,
     "An area's messages, newest first, a page at a time.", trace_page_query,
     "`{items:[...], next_before: id|null}`"},
    {"GET", "/v1/traces/areas/{area}/phantoms", false,
     "An area's phantoms, newest first, a page at a time.", trace_page_query,
     "`{items:[...], next_before: id|null}`"},
    {"GET", "/v1/traces/areas/{area}/near", false,
     "An area's traces with a position within radius of (x, y, z), newest first.", trace_near_query,
     "`{objects:[...], messages:[...], phantoms:[...]}`"},
    {"POST", "/v1/traces/items/{id}/appraise", true,
     "Appraises a message: one appraisal per account, the latest counts.", trace_appraise_body,
     "`{id, kind, rating, votes, reports, hidden}`; not_found for anything but a visible message."},
    {"POST",
     "/v1/traces/items/{id}/report",
     true,
     "Reports a trace, once per account (a repeat changes nothing and says already_reported). "
     "Every report is counted in `reports`; the trace is hidden everywhere once "
     "traces.hide_after_reports different client addresses have reported it from accounts at "
     "least traces.report_min_account_age_s old (one address, or fresh accounts, cannot hide "
     "a trace alone).",
     {},
     "`{id, kind, rating, votes, reports, hidden, already_reported?}`"},
    {"GET", "/v1/admin/traces", true,
     "Admins only (403 forbidden to other accounts): the moderation queue, reported traces of "
     "every area and kind, hidden ones included, newest first, each with who reported it.",
     moderation_query,
     "`{items:[{id, area, kind, account_id, reports, hidden, trace:{...as listed}, "
     "reported_by:[{account_id, weighty}]}], next_before: id|null}`"},
    {"POST",
     "/v1/admin/traces/{id}/restore",
     true,
     "Admins only: shows a hidden trace again and forgets its reports (new reports may hide it "
     "again). Written to the audit log (trace.restore).",
     {},
     "`{id, kind, reports, hidden}`; 404 not_found when no such trace."},
    {"DELETE",
     "/v1/admin/traces/{id}",
     true,
     "Admins only: deletes a trace with its appraisals and reports. Written to the audit log "
     "(trace.delete, with what the trace held).",
     {},
     "`{deleted: id}`; 404 not_found when no such trace."},
    {"GET", "/v1/admin/audit", true,
     "Admins only: the audit log, newest first: every admin action and every grant or revoke "
     "(`maratang admin grant|revoke EMAIL`; actor 0 is the operator's command line).",
     audit_query, "`{entries:[{id, at, actor, action, target, detail}], next_before: id|null}`"},
    {"GET",
     "/v1/admin/overview",
     true,
     "Admins only: this node at a glance: its id, when it started, WebSocket connections, "
     "players online, rooms by mode and state, whether it is draining, its stores, and Mafia's "
     "media: the mode (media.mode) and, with Janus, its health as last checked "
     "(media.janus_check_ms): whether it answered, when, the games it carries, and how often it "
     "was found restarted and told every live game's rooms and tokens again. With several "
     "nodes, `nodes` lists every node known (this one first, `self`), alive or not, with its "
     "route (nginx's /node/N/, through which every /v1/admin endpoint of that node is reached: "
     "its rooms, a room's detail, closing it), its rooms and whether it runs the cluster's "
     "matchmaker (`matchmaker`); null on one node.",
     {},
     "`{node, nodes: null | [{id, route, alive, rooms, self, matchmaker}], address, started_at, "
     "server_time, "
     "connections, online, rooms:{total, by_mode:{mode:{waiting, playing}}}, draining, storage, "
     "redis, kafka, media:{mode, sfu: null | {up, checked_at, games, resyncs, error?}}}`"},
    {"GET",
     "/v1/admin/rooms",
     true,
     "Admins only: every room of this node, private ones included, by id.",
     {},
     "`{rooms:[{id, name, mode, state, players, capacity, has_password, allow_spectators, "
     "private}]}`"},
    {"GET",
     "/v1/admin/rooms/{id}",
     true,
     "Admins only: one room as its members see it (members, leader, chat, settings, invite "
     "code), with the running game's public view (what no player in particular may see).",
     {},
     "`{room}` as the room snapshot, plus `invite_code` and `game_started_at?`; 404 "
     "unknown_room."},
    {"POST", "/v1/admin/rooms/{id}/close", true,
     "Admins only: closes a room. A running game is stored as aborted (closed_by_admin); every "
     "member gets room.removed with reason closed_by_admin and the message. Written to the audit "
     "log (room.close, with the members and the message).",
     admin_action_body, "`{closed: id}`; 404 unknown_room."},
    {"GET", "/v1/admin/players", true,
     "Admins only: the accounts connected to this node, by id, with the room each holds a seat in.",
     admin_players_query, "`{players:[{id, nickname, room_id|null}], next_after: id|null}`"},
    {"POST", "/v1/admin/accounts/{id}/kick", true,
     "Admins only: removes the account from its room (room.removed, reason kicked_by_admin, with "
     "the message; a running game goes on without it, as when a player leaves) and closes its "
     "connection (session.closed, reason disconnected_by_admin), on whichever node it is connected "
     "to (several nodes: 503 unavailable when Redis or that node does not answer). It may log in "
     "again; a ban keeps it out. "
     "Written to the audit log (account.kick).",
     admin_action_body,
     "`{kicked: id, room_id|null, connected}`; 404 not_found when no such account."},
    {"POST", "/v1/admin/accounts/{id}/ban", true,
     "Admins only: bans an account: every one of its sessions ends at once (session.closed, "
     "reason banned) and, until the ban ends, logins, refreshes and tokens are refused with 403 "
     "account_banned and the message. Its seat is freed as by a kick. Written to the audit log "
     "(account.ban). Admins cannot ban themselves.",
     admin_ban_body, "`{banned: id, until|null}`; 404 not_found when no such account."},
    {"POST",
     "/v1/admin/accounts/{id}/unban",
     true,
     "Admins only: lifts a ban (account.unban in the audit log).",
     {},
     "`{unbanned: id}`; 404 not_found when no such account."},
    {"GET",
     "/v1/admin/games/{id}",
     true,
     "Admins only: any game's record, private rooms' included (players read theirs at "
     "/v1/games/{id}).",
     {},
     "as GET /v1/games/{id}; 404 not_found."},
    {"GET",
     "/v1/admin/games/{id}/casebook",
     true,
     "Admins only: any Mystery game's casebook (players read theirs at /v1/games/{id}/casebook).",
     {},
     "`{game_id, title, language, author, created_at, markdown}`; 404 not_found."},
    {"GET",
     "/v1/admin/mystery",
     true,
     "Admins only: every Mystery scenario folder as this node loaded it (a broken one with its "
     "validation errors, file:line), and each LLM endpoint's health: its circuit breaker and "
     "counts since start.",
     {},
     "`{scenarios:[{folder, loaded, errors:[str], id?, title?, language?}], llm:[{endpoint, "
     "breaker: closed|open|half_open, calls, ok, failed, retries, timeouts, in_flight}]}`"},
    {"GET",
     "/v1/admin/config",
     true,
     "Admins only: the effective configuration, each value with its source, secrets redacted "
     "(as `maratang config`).",
     {},
     "`{settings:{key:{value, source}}}`"},
    {"GET", "/v1/admin/metrics", true,
     "Admins only: the main metrics of this node, sampled every 10 s over the last hour, oldest "
     "first: WebSocket connections, rooms, messages in and HTTP requests and errors per second, "
     "bytes out per second, resident memory.",
     admin_metrics_query, "`{interval_s, series:{name:[[at, value], ...]}}`"},
    {"GET",
     "/ws",
     false,
     "WebSocket upgrade. Token in the `token` query parameter (a browser cannot set headers on "
     "an upgrade) or an `Authorization: Bearer` header. Only here: every REST endpoint refuses a "
     "`?token=` with 401 unauthorized (URLs end up in proxy logs and browser history) and takes "
     "the token in the Authorization header.",
     {},
     "101 Switching Protocols, or 401 with an error body."},
};

}  // namespace

std::span<const message_spec> core_messages() {
  return messages;
}
std::span<const endpoint_spec> core_endpoints() {
  return endpoints;
}

const message_spec* find_core_message(std::string_view type) {
  for (const auto& m : messages) {
    if (m.type == type && m.dir == direction::request) return &m;
  }
  return nullptr;
}

std::string_view to_string(field_type t) noexcept {
  switch (t) {
    case field_type::string:
      return "string";
    case field_type::integer:
      return "integer";
    case field_type::boolean:
      return "boolean";
    case field_type::object:
      return "object";
    case field_type::array:
      return "array";
    case field_type::any:
      return "any";
  }
  return "any";
}

}  // namespace maratang::proto
