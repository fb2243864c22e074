// CPU seconds a benchmark reads of its own threads and process (user + system).
#pragma once

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

namespace maratang::bench {

inline double thread_cpu_seconds(pthread_t t) {
  clockid_t id;
  pthread_getcpuclockid(t, &id);
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

}  // namespace maratang::bench
