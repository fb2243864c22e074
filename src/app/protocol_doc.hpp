// Generates docs/PROTOCOL.md from the message and endpoint tables, so the document cannot drift
// from the code (a unit test compares the two).
#pragma once

#include <string>

namespace maratang::app {

std::string protocol_markdown();

}  // namespace maratang::app
