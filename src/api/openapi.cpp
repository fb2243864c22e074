#include "api/openapi.hpp"

#include <boost/json.hpp>
#include <string_view>

#include "proto/messages.hpp"
#include "util/error.hpp"

namespace maratang::api {

namespace json = boost::json;

namespace {

json::object schema_of(const proto::field_spec& f) {
  json::object s;
  switch (f.type) {
    case proto::field_type::string:
      s["type"] = "string";
      if (f.min != 0 || f.max != 0) {
        s["minLength"] = f.min;
        s["maxLength"] = f.max;
      }
      break;
    case proto::field_type::integer:
      s["type"] = "integer";
      s["format"] = "int64";
      if (f.min != 0 || f.max != 0) {
        s["minimum"] = f.min;
        s["maximum"] = f.max;
      }
      break;
    case proto::field_type::boolean:
      s["type"] = "boolean";
      break;
    case proto::field_type::object:
      s["type"] = "object";
      break;
    case proto::field_type::array:
      s["type"] = "array";
      s["items"] = json::object{};
      break;
    case proto::field_type::any:
      break;
  }
  if (!f.doc.empty()) s["description"] = f.doc;
  if (!f.fields.empty()) {
    json::object props;
    json::array required;
    for (const auto& c : f.fields) {
      props[c.name] = schema_of(c);
      if (c.required) required.push_back(json::string(c.name));
    }
    s["properties"] = std::move(props);
    if (!required.empty()) s["required"] = std::move(required);
  }
  return s;
}

json::object body_schema(std::span<const proto::field_spec> fields) {
  proto::field_spec root{"", proto::field_type::object, true, 0, 0, "", fields};
  auto s = schema_of(root);
  if (!s.contains("properties")) s["properties"] = json::object{};
  return s;
}

// "/v1/games/{id}" -> {"id"}
json::array path_parameters(std::string_view path) {
  json::array out;
  for (auto open = path.find('{'); open != std::string_view::npos; open = path.find('{', open)) {
    auto close = path.find('}', open);
    if (close == std::string_view::npos) break;
    out.push_back({{"name", path.substr(open + 1, close - open - 1)},
                   {"in", "path"},
                   {"required", true},
                   {"schema", {{"type", "string"}}}});
    open = close;
  }
  return out;
}

std::string_view tag_of(std::string_view path) {
  if (path.rfind("/v1/traces", 0) == 0) return "traces";
  if (path == "/get-objects" || path == "/add-object") return "gamedb";
  if (path.rfind("/v1/auth", 0) == 0) return "auth";
  if (path.rfind("/v1/leaderboards", 0) == 0 || path.rfind("/ratings") != std::string_view::npos)
    return "competition";
  if (path.rfind("/v1/account", 0) == 0 || path.rfind("/v1/nicknames", 0) == 0) return "accounts";
  if (path.rfind("/v1/rooms", 0) == 0 || path.rfind("/v1/games", 0) == 0 || path == "/ws" ||
      path == "/v1/modes")
    return "lobby";
  return "operations";
}

std::string operation_id(std::string_view method, std::string_view path) {
  std::string id;
  for (char c : method)
    id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool up = true;
  for (char c : path) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      id += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      up = false;
    } else {
      up = true;
    }
  }
  return id;
}

json::object success_content(std::string_view path) {
  if (path == "/metrics") return {{"text/plain", {{"schema", {{"type", "string"}}}}}};
  if (path == "/docs") return {{"text/html", {{"schema", {{"type", "string"}}}}}};
  if (path == "/docs/{file}") return {{"*/*", {{"schema", {{"type", "string"}}}}}};
  return {{"application/json", {{"schema", {{"type", "object"}}}}}};
}

}  // namespace

std::string openapi_json() {
  json::object paths;
  for (const auto& e : proto::core_endpoints()) {
    json::object op;
    op["operationId"] = operation_id(e.method, e.path);
    op["summary"] = e.summary;
    op["tags"] = json::array{tag_of(e.path)};
    json::array params = path_parameters(e.path);
    if (e.method == "GET") {
      for (const auto& f : e.body) {
        params.push_back({{"name", f.name},
                          {"in", "query"},
                          {"required", f.required},
                          {"description", f.doc},
                          {"schema", schema_of(f)}});
      }
    } else if (!e.body.empty()) {
      op["requestBody"] = {{"required", true},
                           {"content", {{"application/json", {{"schema", body_schema(e.body)}}}}}};
    }
    if (!params.empty()) op["parameters"] = std::move(params);
    json::object responses;
    const std::string ok_status = e.path == "/ws" ? "101" : "200";
    json::object ok{{"description", e.response}};
    if (e.path != "/ws") ok["content"] = success_content(e.path);
    responses[ok_status] = std::move(ok);
    if (e.path == "/add-object" || e.path == "/v1/traces/areas/{area}") {
      if (e.method == "POST") {
        responses["422"] = {
            {"description", "Invalid input: every bad field is named."},
            {"content",
             {{"application/json", {{"schema", {{"$ref", "#/components/schemas/FieldErrors"}}}}}}}};
      }
    }
    if (e.path == "/get-objects" || (e.path == "/v1/traces/areas/{area}" && e.method == "GET")) {
      responses["304"] = {{"description", "Not modified (If-None-Match matched the ETag)."}};
    }
    responses["default"] = {
        {"description", "An error: {error: {code, message}} with a stable code."},
        {"content",
         {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
    op["responses"] = std::move(responses);
    if (e.needs_auth) op["security"] = json::array{json::object{{"bearerAuth", json::array{}}}};

    std::string method;
    for (char c : e.method)
      method += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    json::value& item = paths[e.path];
    if (!item.is_object()) item.emplace_object();
    item.get_object()[method] = std::move(op);
  }

  json::array codes;
  for (int i = 0; i <= static_cast<int>(errc::internal); ++i)
    codes.push_back(json::string(to_string(static_cast<errc>(i))));
  json::object error_schema{{"type", "object"},
                            {"required", json::array{"error"}},
                            {"properties",
                             {{"error",
                               {{"type", "object"},
                                {"required", json::array{"code", "message"}},
                                {"properties",
                                 {{"code", {{"type", "string"}, {"enum", codes}}},
                                  {"message", {{"type", "string"}}}}}}}}}};
  json::value field_errors = json::parse(R"({
    "type": "object",
    "properties": {
      "error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
          "field": {"type": "string"}, "code": {"type": "string"},
          "message": {"type": "string"}}}}}},
      "detail": {"type": "array", "items": {"type": "object"},
                 "description": "The same errors in FastAPI's shape {loc, msg, type}."}}})");

  json::object doc{
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "Maratang"},
        {"version", MARATANG_VERSION},
        {"description",
         "Every REST endpoint of Maratang, generated from src/proto/messages.cpp. The "
         "WebSocket protocol is in docs/PROTOCOL.md."}}},
      {"paths", std::move(paths)},
      {"components",
       {{"securitySchemes", {{"bearerAuth", {{"type", "http"}, {"scheme", "bearer"}}}}},
        {"schemas",
         {{"Error", std::move(error_schema)}, {"FieldErrors", std::move(field_errors)}}}}}};
  return json::serialize(doc);
}

}  // namespace maratang::api
