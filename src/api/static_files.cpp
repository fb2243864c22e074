#include "api/static_files.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "traces/http_cache.hpp"

namespace maratang::api {

namespace fs = std::filesystem;

namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Text formats compress well; images and fonts are compressed already.
bool compressible(std::string_view type) {
  return type.starts_with("text/") || type.starts_with("application/javascript") ||
         type.starts_with("application/json") || type.starts_with("image/svg") ||
         type.starts_with("application/manifest");
}

}  // namespace

static_files::static_files(std::string dir, static_files_options opts)
    : dir_(std::move(dir)), opts_(std::move(opts)) {}

std::string_view static_files::media_type_of(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (ends_with(name, ext)) return type;
  }
  return "application/octet-stream";
}

bool static_files::safe_path(std::string_view rel) {
  if (rel.size() > 512) return false;
  int segments = 0;
  std::size_t start = 0;
  while (start <= rel.size()) {
    auto end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    const auto seg = rel.substr(start, end - start);
    // Empty segments ("a//b", a leading '/') and dot-names ("..", ".git", ".env") are refused.
    if (seg.empty() || seg.front() == '.' || ++segments > 16) return false;
    for (unsigned char c : seg) {
      if (!std::isalnum(c) && c != '.' && c != '-' && c != '_') return false;
    }
    start = end + 1;
  }
  return true;
}

std::shared_ptr<const static_files::entry> static_files::load(const std::string& rel) {
  if (!safe_path(rel)) return nullptr;
  std::error_code ec;
  const fs::path root = fs::canonical(dir_, ec);
  if (ec) return nullptr;
  // A symbolic link may point anywhere: what is served must resolve inside the directory.
  const fs::path file = fs::canonical(root / rel, ec);
  if (ec) return nullptr;
  const auto r = root.native() + "/";
  if (file.native().compare(0, r.size(), r) != 0) return nullptr;
  if (!fs::is_regular_file(file, ec)) return nullptr;
  const auto size = fs::file_size(file, ec);
  if (ec || size > opts_.file_max_bytes) return nullptr;
  const auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
  if (ec) return nullptr;
  {
    std::lock_guard lk(mu_);
    if (auto it = files_.find(rel);
        it != files_.end() && it->second->size == size && it->second->mtime == mtime) {
      return it->second;
    }
  }
  // Read and compress outside the lock: two first requests may both do it, harmlessly.
  std::ifstream in(file, std::ios::binary);
  if (!in) return nullptr;
  std::stringstream ss;
  ss << in.rdbuf();
  auto e = std::make_shared<entry>();
  e->body = std::make_shared<const std::string>(ss.str());
  e->size = size;
  e->mtime = mtime;
  e->etag = traces::etag_of(*e->body);
  if (compressible(media_type_of(rel)) && e->body->size() >= 512) {
    auto gz = traces::gzip(*e->body);
    if (gz.size() + 64 < e->body->size()) {
      e->etag_gzip = traces::etag_of(gz);
      e->gzip = std::make_shared<const std::string>(std::move(gz));
    }
  }
  std::lock_guard lk(mu_);
  // Bounded: a directory with more files than this is read again on each request past it.
  if (files_.size() < 4096 || files_.contains(rel)) files_[rel] = e;
  return e;
}

bool static_files::has(std::string_view rel) {
  return load(std::string(rel)) != nullptr;
}

std::optional<net::http_response> static_files::serve(std::string_view rel,
                                                      const net::http_request& req) {
  std::string name(rel);
  if (name.empty() || name.back() == '/') name += "index.html";
  auto e = load(name);
  if (!e) return std::nullopt;
  const bool gz = e->gzip && traces::accepts_gzip(req.accept_encoding);
  const std::string& tag = gz ? e->etag_gzip : e->etag;
  net::http_response r;
  r.content_type = std::string(media_type_of(name));
  r.headers = {
      {"ETag", tag}, {"Cache-Control", opts_.cache_control}, {"X-Content-Type-Options", "nosniff"}};
  if (e->gzip) r.headers.emplace_back("Vary", "Accept-Encoding");
  if (!opts_.html_csp.empty() && ends_with(name, ".html")) {
    r.headers.emplace_back("Content-Security-Policy", opts_.html_csp);
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  if (!req.if_none_match.empty() && traces::etag_matches(req.if_none_match, tag)) {
    r.status = 304;
    r.shared_body = std::make_shared<const std::string>();
    return r;
  }
  if (gz) r.headers.emplace_back("Content-Encoding", "gzip");
  r.shared_body = gz ? e->gzip : e->body;
  return r;
}

}  // namespace maratang::api
