// Files served to browsers: GET /openapi.json (generated from the endpoint table), GET /docs, the
// Swagger UI from the npm package swagger-ui-dist (installed by scripts/setup.sh into
// web/node_modules; the directory is the docs.assets_dir setting), and the player's web client at
// / (web/public; the web.public_dir setting). Both directories go through one static_files each.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "api/gateway.hpp"
#include "api/openapi.hpp"
#include "api/static_files.hpp"
#include "obs/metrics.hpp"

namespace maratang::api {

using net::http_request;
using net::http_responder;
using net::http_response;

namespace {

constexpr std::string_view kIndex = R"html(<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Maratang API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    });
  </script>
</body>
</html>
)html";

http_response error_reply(errc code, std::string message) {
  http_response r;
  r.status = http_status(code);
  r.body = boost::json::serialize(
      boost::json::object{{"error", {{"code", to_string(code)}, {"message", message}}}});
  return r;
}

}  // namespace

bool gateway::route_docs(http_request& req, const http_responder& respond) {
  const std::string& path = req.path;
  if (path != "/openapi.json" && path != "/docs" && path != "/docs/" &&
      path.rfind("/docs/", 0) != 0) {
    return false;
  }
  if (req.method != "GET") {
    metrics_.count_error(errc::method_not_allowed);
    respond(error_reply(errc::method_not_allowed,
                        std::string(default_message(errc::method_not_allowed))));
    return true;
  }
  if (path == "/openapi.json") {
    static const auto doc = std::make_shared<const std::string>(openapi_json());
    http_response r;
    r.shared_body = doc;
    return respond(std::move(r)), true;
  }
  // Swagger UI is useless without its assets: say so plainly, with the fix.
  if (!docs_files_->has("swagger-ui-bundle.js")) {
    respond(error_reply(
        errc::unavailable,
        fmt::format("The Swagger UI assets are not installed in \"{}\" (setting docs.assets_dir): "
                    "run scripts/setup.sh, which installs the npm package swagger-ui-dist. The "
                    "OpenAPI document itself is at /openapi.json.",
                    opts_.docs_dir)));
    return true;
  }
  if (path == "/docs" || path == "/docs/" || path == "/docs/index.html") {
    http_response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(kIndex);
    return respond(std::move(r)), true;
  }
  // Plain names only, as before: the package's folders are not part of the UI.
  const std::string name = path.substr(6);
  auto r = name.find('/') == std::string::npos ? docs_files_->serve(name, req) : std::nullopt;
  if (!r) {
    respond(error_reply(errc::not_found, "No such documentation file."));
    return true;
  }
  respond(std::move(*r));
  return true;
}

void gateway::init_static_files() {
  static_files_options docs;
  docs.cache_control = "public, max-age=3600";
  docs_files_ = std::make_shared<static_files>(opts_.docs_dir, docs);
  // The client loads nothing from anywhere else: its own files, its own WebSocket and REST
  // (connect-src 'self' covers ws: and wss: of the same host) and the SFU's API when there is
  // one, no inline script or style.
  static_files_options web;
  web.html_csp =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'" +
      (opts_.web_connect_src.empty() ? "" : " " + opts_.web_connect_src) +
      "; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
      "frame-ancestors 'none'";
  web_files_ = std::make_shared<static_files>(opts_.web_dir, web);
}

bool gateway::route_static(http_request& req, const http_responder& respond) {
  // REST, the WebSocket and the operations endpoints keep their own answers for unknown paths.
  if (req.path.empty() || req.path.front() != '/' || req.path.starts_with("/v1/") ||
      req.path == "/v1" || req.path == "/ws") {
    return false;
  }
  // HEAD is answered as GET; the network layer sends the head alone.
  if (req.method != "GET" && req.method != "HEAD") return false;
  // The admin console lives in its own folder; /admin is its page as /admin/ is.
  const std::string_view rel =
      req.path == "/admin" ? std::string_view("admin/") : std::string_view(req.path).substr(1);
  auto r = web_files_->serve(rel, req);
  if (!r) return false;
  respond(std::move(*r));
  return true;
}

}  // namespace maratang::api
