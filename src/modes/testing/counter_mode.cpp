#include "modes/testing/counter_mode.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <stdexcept>
#include <thread>

#include "proto/fields.hpp"

namespace maratang::modes {

namespace json = boost::json;
using lobby::player_id;
using lobby::room_api;

namespace {

constexpr proto::field_spec add_fields[] = {
    {"n", proto::field_type::integer, true, 1, 100, "How much to add."},
};
constexpr proto::field_spec later_fields[] = {
    {"n", proto::field_type::integer, true, 1, 100, "How much to add."},
    {"delay_ms", proto::field_type::integer, true, 0, 1000, "How long the other thread waits."},
};
constexpr proto::message_spec messages[] = {
    {"test.counter.later", proto::direction::request,
     "Adds n later, from another thread, through the room's async gate.", later_fields, "`{}`",
     true},
    {"test.counter.add", proto::direction::request, "Adds n to the shared total.", add_fields,
     "`{total, mine}`", true},
    {"test.counter.finish", proto::direction::request, "Ends the game.", {}, "`{}`", true},
    {"test.counter.crash",
     proto::direction::request,
     "Makes the mode throw (tests only).",
     {},
     "`internal`: the game is stored as aborted",
     true},
};

class counter_mode final : public lobby::mode {
 public:
  explicit counter_mode(std::int64_t end_after_ms) : end_after_ms_(end_after_ms) {}

  void on_start(room_api& room) override {
    for (const auto& m : room.members()) {
      if (!m.spectator) mine_[m.id] = 0;
    }
    if (end_after_ms_ > 0) {
      deadline_ = room.now_ms() + end_after_ms_;
      room.set_timer(deadline_, 1);
    }
    room.send_all("test.counter.started", {{"deadline", deadline_}});
    room.checkpoint();
  }

  result<json::object> on_message(room_api& room, player_id from, std::string_view type,
                                  const proto::fields& data) override {
    if (type == "test.counter.crash") throw std::runtime_error("asked to crash");
    if (!mine_.count(from)) return error{errc::forbidden, "Spectators cannot play."};
    if (type == "test.counter.finish") {
      finish(room, "finished");
      return json::object{};
    }
    auto n = data.integer("n");
    if (type == "test.counter.later") {
      // Another thread (as an LLM client would) comes back through the gate.
      std::thread([gate = room.async_gate(), announce = room.announcer(), this_mode = this, from, n,
                   delay = data.integer("delay_ms")] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        // The gate runs the work only while this game lasts, so this_mode is alive then.
        gate([this_mode, from, n](room_api& r) { this_mode->add(r, from, n); });
        announce("test.counter.announced", {{"n", n}});
      }).detach();
      return json::object{};
    }
    return add(room, from, n);
  }

  result<json::object> add(room_api& room, player_id from, std::int64_t n) {
    total_ += n;
    mine_[from] += n;
    room.log("add", from, {{"n", n}});
    room.send_all("test.counter.total", {{"total", total_}});
    room.send_to(from, "test.counter.private", {{"mine", mine_[from]}});
    room.checkpoint();  // every change is a checkpoint: the tests of restore count on it
    return json::object{{"total", total_}, {"mine", mine_[from]}};
  }

  void on_timer(room_api& room, std::uint64_t) override { finish(room, "time"); }

  void on_leave(room_api& room, player_id p) override {
    mine_.erase(p);
    if (mine_.empty()) finish(room, "abandoned");
  }

  json::object view(player_id viewer) const override {
    json::object o{{"total", total_}, {"deadline", deadline_}};
    if (auto it = mine_.find(viewer); it != mine_.end()) o["mine"] = it->second;
    return o;
  }

  // State v1: {v, total, deadline, mine: [[player, n]]}. Work sent to another thread (later) is
  // not kept: a restored game never gets it.
  json::object serialize() const override {
    json::array mine;
    for (const auto& [p, n] : mine_)
      mine.push_back(json::array{p, n});
    return {{"v", 1}, {"total", total_}, {"deadline", deadline_}, {"mine", std::move(mine)}};
  }

  void restore_from(const json::object& s) {
    if (s.at("v").as_int64() != 1) throw std::invalid_argument("unknown state version");
    total_ = s.at("total").as_int64();
    deadline_ = s.at("deadline").as_int64();
    for (const auto& e : s.at("mine").as_array())
      mine_[e.as_array().at(0).as_int64()] = e.as_array().at(1).as_int64();
  }

  void on_restore(room_api& room) override {
    if (deadline_ > 0) room.set_timer(deadline_, 1);
  }

 private:
  void finish(room_api& room, std::string_view why) {
    json::object per;
    for (const auto& [p, n] : mine_)
      per[std::to_string(p)] = n;
    room.end_game({{"total", total_}, {"reason", why}},
                  {{"total", total_}, {"reason", why}, {"players", per}});
  }

  std::int64_t end_after_ms_;
  epoch_ms deadline_ = 0;
  std::int64_t total_ = 0;
  std::map<player_id, std::int64_t> mine_;
};

class counter_factory final : public lobby::mode_factory {
 public:
  std::string_view name() const override { return "test.counter"; }
  int min_players() const override { return 2; }
  int max_players() const override { return 1000; }
  std::span<const proto::message_spec> messages() const override {
    return ::maratang::modes::messages;
  }

  result<json::object> validate_settings(const json::object& s) const override {
    json::object out;
    out["end_after_ms"] = 0;
    for (const auto& [k, v] : s) {
      if (k == "end_after_ms" || k == "seed") {
        if (!v.is_int64() || v.get_int64() < 0) {
          return error{errc::bad_field,
                       "settings." + std::string(k) + " must be a non-negative integer."};
        }
        out[k] = v;
      } else {
        return error{errc::bad_field, "Unknown setting \"" + std::string(k) + "\"."};
      }
    }
    return out;
  }

  std::unique_ptr<lobby::mode> create(const json::object& settings) const override {
    return std::make_unique<counter_mode>(settings.at("end_after_ms").as_int64());
  }

  result<std::unique_ptr<lobby::mode>> restore(const json::object& settings,
                                               const json::object& state) const override {
    try {
      auto m = std::make_unique<counter_mode>(settings.at("end_after_ms").as_int64());
      m->restore_from(state);
      return std::unique_ptr<lobby::mode>(std::move(m));
    } catch (const std::exception& e) {
      return error{errc::bad_field, std::string("test.counter state: ") + e.what()};
    }
  }

  // Statistics: the highest own count wins; several at the top draw; everyone else loses. The
  // `totals` tally counts the own counts players ended with (so that tests see a tally).
  void score(const json::object& record, std::span<store::player_outcome> stayed) const override {
    const auto* per = record.if_contains("players");
    if (!per || !per->is_object()) return;
    std::int64_t best = 0;
    int at_best = 0;
    for (const auto& [k, v] : per->get_object()) {
      if (!v.is_int64()) continue;
      if (at_best == 0 || v.get_int64() > best) {
        best = v.get_int64();
        at_best = 1;
      } else if (v.get_int64() == best) {
        ++at_best;
      }
    }
    for (auto& o : stayed) {
      const auto* mine = per->get_object().if_contains(std::to_string(o.account_id));
      if (!mine || !mine->is_int64()) continue;
      o.result = mine->get_int64() < best ? store::game_result::lost
                 : at_best == 1           ? store::game_result::won
                                          : store::game_result::drawn;
      o.tallies.emplace_back("totals", std::to_string(mine->get_int64()));
    }
  }
  std::span<const std::string_view> tallies() const override { return stat_tallies; }

  // Competition (for the tests): a free-for-all rated with Weng-Lin under "test.counter", placed
  // by own count (higher first, equal counts tie); a player who left is placed last. Own counts
  // add up on the season's "test.counter.total" board.
  void compete(const json::object& record, std::span<const store::player_outcome> outcomes,
               store::competition_input& in) const override {
    const auto* per = record.if_contains("players");
    if (!per || !per->is_object()) return;
    std::map<std::int64_t, std::vector<std::int64_t>, std::greater<>> by_count;
    std::vector<std::int64_t> left;
    for (const auto& o : outcomes) {
      const auto* mine = per->get_object().if_contains(std::to_string(o.account_id));
      const std::int64_t n = mine && mine->is_int64() ? mine->get_int64() : 0;
      if (n > 0)
        in.scores.push_back({"test.counter.total", o.account_id, static_cast<double>(n),
                             store::score_merge::add, false});
      if (o.result == store::game_result::abandoned) {
        left.push_back(o.account_id);
      } else {
        by_count[n].push_back(o.account_id);
      }
    }
    int place = 1;
    for (auto& [n, ids] : by_count) {
      for (std::int64_t id : ids)
        in.teams.push_back({{id}, place});  // each player alone; equal places tie
      ++place;
    }
    for (std::int64_t id : left)
      in.teams.push_back({{id}, place});
    in.rating_key = "test.counter";
    in.model = store::rating_model::weng_lin;
  }
  std::vector<board> leaderboards() const override {
    return {{"rating.test.counter", false, "test.counter rating (tests only)."},
            {"test.counter.total", false, "test.counter own counts, summed (tests only)."}};
  }

 private:
  static constexpr std::string_view stat_tallies[] = {"totals"};
};

}  // namespace

std::unique_ptr<lobby::mode_factory> make_counter_mode_factory() {
  return std::make_unique<counter_factory>();
}

}  // namespace maratang::modes
