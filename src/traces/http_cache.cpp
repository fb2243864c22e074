#include "traces/http_cache.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace maratang::traces {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// The q-value of one Accept-Encoding entry's parameters ("q=0.5"); 1 when absent.
double q_value(std::string_view params) {
  while (!params.empty()) {
    auto semi = params.find(';');
    auto p = trim(params.substr(0, semi));
    if (p.size() > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      return std::strtod(std::string(p.substr(2)).c_str(), nullptr);
    }
    if (semi == std::string_view::npos) break;
    params.remove_prefix(semi + 1);
  }
  return 1.0;
}

}  // namespace

bool accepts_gzip(std::string_view header) {
  // An explicit gzip entry decides; otherwise "*" does.
  int gzip_ok = -1, star_ok = -1;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = trim(header.substr(0, comma));
    auto semi = item.find(';');
    auto coding = trim(item.substr(0, semi));
    const bool ok =
        q_value(semi == std::string_view::npos ? std::string_view() : item.substr(semi + 1)) > 0;
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) gzip_ok = ok;
    if (coding == "*") star_ok = ok;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  if (gzip_ok >= 0) return gzip_ok == 1;
  return star_ok == 1;
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  // 15 + 16: a gzip wrapper rather than zlib's.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("gzip: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const auto produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
  out.resize(produced);
  return out;
}

bool gunzip(std::string_view data, std::string& out) {
  out.clear();
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || zs.avail_in != 0) {
    out.clear();
    return false;
  }
  return true;
}

std::string etag_of(std::string_view data) {
  // FNV-1a, 64 bits: cheap, and collisions only cost a missed 304 or a wrong one for content
  // that changed to the same hash, which 64 bits make negligible.
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("\"{:016x}\"", h);
}

bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto tag = trim(header.substr(0, comma));
    if (tag == "*") return true;
    if (tag.size() > 2 && tag.substr(0, 2) == "W/") tag.remove_prefix(2);  // weak comparison
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

std::shared_ptr<snapshot> make_snapshot(std::string json) {
  auto s = std::make_shared<snapshot>();
  s->etag = etag_of(json);
  s->etag_gzip = s->etag.substr(0, s->etag.size() - 1) + "-gz\"";
  s->gzip = std::make_shared<const std::string>(gzip(json));
  s->json = std::make_shared<const std::string>(std::move(json));
  return s;
}

// --- snapshot_cache ---------------------------------------------------------------------------

snapshot_cache::snapshot_cache(const clock& clk, std::chrono::milliseconds max_age,
                               std::size_t max_entries)
    : clock_(clk), max_age_(max_age), max_entries_(max_entries) {}

void snapshot_cache::get(const std::string& area, const std::string& variant, ready use,
                         const filler& fill) {
  std::string key = area + '\n' + variant;
  std::shared_ptr<const snapshot> hit;
  std::uint64_t gen = 0;
  const auto started = clock_.steady_now();
  {
    std::lock_guard lk(mu_);
    // Both parts only grow, so their sum changes whenever either does.
    gen = all_gen_;
    if (auto g = gens_.find(area); g != gens_.end()) gen += g->second;
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.snap && it->second.snap->generation == gen &&
        started - it->second.snap->made < max_age_) {
      ++stats_.hits;
      hit = it->second.snap;
    } else {
      ++stats_.misses;
      if (it != entries_.end() && it->second.filling) {
        ++stats_.waits;
        it->second.waiters.push_back(std::move(use));
        return;
      }
      if (it == entries_.end()) {
        // Bounded: areas come from clients. Dropping idle entries only costs refills.
        if (entries_.size() >= max_entries_) {
          for (auto i = entries_.begin(); i != entries_.end();)
            i = i->second.filling ? std::next(i) : entries_.erase(i);
        }
        it = entries_.emplace(key, entry{}).first;
      }
      it->second.filling = true;
      it->second.waiters.push_back(std::move(use));
      ++stats_.fills;
    }
  }
  // Outside the lock: callbacks and fills may do anything, including calling back in.
  if (hit) return use(std::move(hit));
  fill([this, key, gen, started](std::shared_ptr<const snapshot> snap) {
    on_filled(key, gen, started, std::move(snap));
  });
}

std::shared_ptr<const snapshot> snapshot_cache::find(const std::string& area,
                                                     const std::string& variant) {
  std::string key = area + '\n' + variant;
  const auto now = clock_.steady_now();
  std::lock_guard lk(mu_);
  std::uint64_t gen = all_gen_;
  if (auto g = gens_.find(area); g != gens_.end()) gen += g->second;
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.snap || it->second.snap->generation != gen ||
      now - it->second.snap->made >= max_age_) {
    return nullptr;
  }
  ++stats_.hits;
  return it->second.snap;
}

void snapshot_cache::on_filled(const std::string& key, std::uint64_t generation,
                               std::chrono::steady_clock::time_point started,
                               std::shared_ptr<const snapshot> snap) {
  std::vector<ready> waiters;
  {
    std::lock_guard lk(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;  // cannot happen: filling entries are never dropped
    if (snap) {
      // Its age counts from the start of the fill: the data read is at least that fresh.
      auto stamped = std::make_shared<snapshot>(*snap);
      stamped->generation = generation;
      stamped->made = started;
      snap = std::move(stamped);
      it->second.snap = snap;
    }
    it->second.filling = false;
    waiters.swap(it->second.waiters);
  }
  for (auto& w : waiters)
    w(snap);
}

void snapshot_cache::invalidate(const std::string& area) {
  std::lock_guard lk(mu_);
  if (gens_.size() >= max_entries_ && !gens_.contains(area)) {
    // Bounded too: forget every area's count, and move the shared part past the largest one, so
    // that no generation seen before can come back and make an old snapshot look fresh.
    std::uint64_t largest = 0;
    for (const auto& [name, gen] : gens_)
      largest = std::max(largest, gen);
    gens_.clear();
    all_gen_ += largest + 1;
  }
  ++gens_[area];
}

void snapshot_cache::invalidate_all() {
  std::lock_guard lk(mu_);
  ++all_gen_;
}

snapshot_cache::counters snapshot_cache::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace maratang::traces
