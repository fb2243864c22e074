// API documentation: GET /openapi.json (generated from the endpoint table) and GET /docs, the
// Swagger UI from the npm package swagger-ui-dist (installed by scripts/setup.sh into
// web/node_modules; the directory is the docs.assets_dir setting).
#include <fmt/format.h>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "api/gateway.hpp"
#include "api/openapi.hpp"
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

std::string_view media_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".js")) return "application/javascript";
  if (ends(".css")) return "text/css";
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".png")) return "image/png";
  if (ends(".map") || ends(".json")) return "application/json";
  return "application/octet-stream";
}

// A plain file name: no directories, no hidden files, nothing to climb out with.
bool safe_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

// Asset files, read once and then shared by every response.
class asset_store {
 public:
  std::shared_ptr<const std::string> get(const std::string& dir, const std::string& name) {
    std::lock_guard lk(mu_);
    if (auto it = files_.find(name); it != files_.end()) return it->second;
    std::ifstream in(std::filesystem::path(dir) / name, std::ios::binary);
    if (!in) return nullptr;
    std::stringstream ss;
    ss << in.rdbuf();
    auto data = std::make_shared<const std::string>(ss.str());
    files_.emplace(name, data);
    return data;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>> files_;
};

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
  static asset_store assets;
  // Swagger UI is useless without its assets: say so plainly, with the fix.
  const auto bundle = assets.get(opts_.docs_dir, "swagger-ui-bundle.js");
  if (!bundle) {
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
  const std::string name = path.substr(6);
  auto data = safe_name(name) ? assets.get(opts_.docs_dir, name) : nullptr;
  if (!data) {
    respond(error_reply(errc::not_found, "No such documentation file."));
    return true;
  }
  http_response r;
  r.content_type = std::string(media_type_of(name));
  r.headers.emplace_back("Cache-Control", "public, max-age=3600");
  r.shared_body = std::move(data);
  respond(std::move(r));
  return true;
}

}  // namespace maratang::api
