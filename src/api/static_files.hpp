// A directory of files served over HTTP: the player's web client at / (web.public_dir) and the
// Swagger UI assets under /docs (docs.assets_dir). Content types by extension, strong ETags with
// If-None-Match → 304, gzip when the client accepts it and it pays, and only plain names: no
// dotfiles, no "..", nothing outside the directory (symbolic links included). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.hpp"

namespace maratang::api {

struct static_files_options {
  std::string cache_control = "no-cache";  // revalidate each time: names are not content-hashed
  std::string html_csp;                    // Content-Security-Policy of .html files ("" none)
  std::size_t file_max_bytes = 8u << 20;   // larger files are not served
};

class static_files {
 public:
  explicit static_files(std::string dir, static_files_options opts = {});

  // The response for file `rel` (a '/'-separated path below the directory, percent-decoded;
  // "" or a trailing '/' means that folder's index.html), or nullopt when there is no such file or
  // the name is refused. A file changed on disk is read again (size and modification time).
  std::optional<net::http_response> serve(std::string_view rel, const net::http_request& req);
  // Whether `rel` names a file this would serve.
  bool has(std::string_view rel);
  const std::string& dir() const noexcept { return dir_; }

  // The media type sent for a file name (by extension; application/octet-stream when unknown).
  static std::string_view media_type_of(std::string_view name);
  // Whether `rel` is a name this class may serve at all: segments of [A-Za-z0-9._-] that do not
  // start with '.', at most 16 of them and 512 bytes.
  static bool safe_path(std::string_view rel);

 private:
  struct entry {
    std::shared_ptr<const std::string> body;
    std::shared_ptr<const std::string> gzip;  // null when compressing does not pay
    std::string etag, etag_gzip;
    std::uintmax_t size = 0;
    std::int64_t mtime = 0;
  };
  std::shared_ptr<const entry> load(const std::string& rel);

  std::string dir_;
  static_files_options opts_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const entry>> files_;  // GUARDED_BY(mu_)
};

}  // namespace maratang::api
