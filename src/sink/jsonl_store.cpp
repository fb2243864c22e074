#include "sink/jsonl_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace maratang::sink {

namespace fs = std::filesystem;

namespace {

// "part-00003-00000000000000000012-00000000000000000040.jsonl" -> {3, 12, 40}.
bool parse_name(const std::string& name, std::int32_t& partition, std::int64_t& last) {
  int p = 0;
  long long first = 0, l = 0;
  char tail[8] = {};
  if (std::sscanf(name.c_str(), "part-%d-%lld-%lld.%6s", &p, &first, &l, tail) != 4) return false;
  if (std::string_view(tail) != "jsonl") return false;
  partition = p;
  last = l;
  return true;
}

error io_error(const std::string& what, const fs::path& p, int err) {
  return error{errc::unavailable, fmt::format("{} {}: {}", what, p.string(), std::strerror(err))};
}

// Writes all of `data` to fd.
bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool fsync_dir(const fs::path& d) {
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

fs::path jsonl_store::object_path(const fs::path& dir, const std::string& topic, std::int64_t ts_ms,
                                  std::int32_t partition, std::int64_t first, std::int64_t last) {
  const std::time_t secs = static_cast<std::time_t>(ts_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return dir / topic /
         fmt::format("dt={:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) /
         fmt::format("hour={:02}", tm.tm_hour) /
         fmt::format("part-{:05}-{:020}-{:020}.jsonl", partition, first, last);
}

result<jsonl_store> jsonl_store::open(const fs::path& dir) {
  jsonl_store s(dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return error{errc::unavailable,
                 fmt::format("cannot create {}: {}", dir.string(), ec.message())};
  // <dir>/<topic>/dt=.../hour=../part-...: the topic is the first component under dir.
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const auto name = it->path().filename().string();
    if (name.ends_with(".tmp")) {
      fs::remove(it->path(), ec);
      if (ec)
        return error{errc::unavailable,
                     fmt::format("cannot remove {}: {}", it->path().string(), ec.message())};
      ++s.removed_partials_;
      continue;
    }
    std::int32_t partition = 0;
    std::int64_t last = 0;
    if (!parse_name(name, partition, last)) continue;
    const auto rel = fs::relative(it->path(), dir);
    const std::string topic = rel.begin()->string();
    auto& mark = s.marks_.try_emplace({topic, partition}, -1).first->second;
    mark = std::max(mark, last);
  }
  if (ec)
    return error{errc::unavailable, fmt::format("cannot read {}: {}", dir.string(), ec.message())};
  return s;
}

std::int64_t jsonl_store::high_water(const std::string& topic, std::int32_t partition) const {
  auto it = marks_.find({topic, partition});
  return it == marks_.end() ? -1 : it->second;
}

result<std::size_t> jsonl_store::write(const std::vector<consumed>& batch) {
  // Each partition's events, in the batch's (offset) order, above its mark.
  std::map<std::pair<std::string, std::int32_t>, std::vector<const consumed*>> parts;
  for (const auto& c : batch) {
    if (c.offset <= high_water(c.topic, c.partition)) continue;
    parts[{c.topic, c.partition}].push_back(&c);
  }
  std::size_t lines = 0;
  for (auto& [tp, events] : parts) {
    // Runs of consecutive events in one hour, written in offset order: a crash leaves a prefix
    // written, and the mark (the last object's last offset) says exactly where it ends.
    std::size_t i = 0;
    while (i < events.size()) {
      const auto hour = events[i]->ts_ms / 3'600'000;
      std::size_t j = i + 1;
      while (j < events.size() && events[j]->ts_ms / 3'600'000 == hour)
        ++j;
      std::vector<const consumed*> run(events.begin() + static_cast<std::ptrdiff_t>(i),
                                       events.begin() + static_cast<std::ptrdiff_t>(j));
      const auto path = object_path(dir_, tp.first, run.front()->ts_ms, tp.second,
                                    run.front()->offset, run.back()->offset);
      if (auto r = write_object(path, run); !r) return r.error();
      marks_[tp] = run.back()->offset;
      lines += run.size();
      i = j;
    }
  }
  return lines;
}

result<> jsonl_store::write_object(const fs::path& path, const std::vector<const consumed*>& run) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    return error{errc::unavailable,
                 fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message())};
  std::string data;
  for (const auto* c : run) {
    data += c->envelope;
    data += '\n';
  }
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create", tmp, errno);
  if (!write_all(fd, data) || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fs::remove(tmp, ec);
    return io_error("cannot write", tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    fs::remove(tmp, ec);
    return io_error("cannot rename", tmp, err);
  }
  if (!fsync_dir(path.parent_path())) return io_error("cannot fsync", path.parent_path(), errno);
  return {};
}

}  // namespace maratang::sink
