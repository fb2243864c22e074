#include "util/clock.hpp"

namespace maratang {

epoch_ms system_clock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::chrono::steady_clock::time_point system_clock::steady_now() const {
  return std::chrono::steady_clock::now();
}

std::chrono::steady_clock::time_point manual_clock::steady_now() const {
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms_.load()));
}

const clock& real_clock() noexcept {
  static const system_clock instance;
  return instance;
}

}  // namespace maratang
