// Generates docs/PROTOCOL.md from the message and endpoint tables, so the document cannot drift
// from the code (a unit test compares the two).
#pragma once

#include <string>

namespace maratang::app {

std::string protocol_markdown();

// The same tables as JSON, for clients (web/public/sdk/protocol.json, `maratang protocol --json`):
// {version, messages: [{type, dir, mode?, summary, needs_room, fields, reply?}], endpoints:
// [{method, path, auth, summary, fields}], errors: [{code, http, message}]}; each field {name,
// type, required, min?, max?, fields?}. One entry per line, so a change reads as a small diff.
std::string protocol_json();

}  // namespace maratang::app
