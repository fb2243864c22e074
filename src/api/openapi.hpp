// The OpenAPI 3 document of every REST endpoint, generated from the endpoint table
// (proto::core_endpoints), so that it cannot drift from the code. Pure; any thread.
#pragma once

#include <string>

namespace maratang::api {

// The document as JSON text.
std::string openapi_json();

}  // namespace maratang::api
