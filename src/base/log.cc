#include "kcorefs/base/log.h"

#include <syslog.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace kcorefs::base {
namespace {
std::atomic<bool> g_syslog{false};
std::atomic<bool> g_verbose{false};

const char* Prefix(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "";
}
}  // namespace

void LogToSyslog() {
  openlog("kcorefs", LOG_PID, LOG_DAEMON);
  g_syslog = true;
}

void SetVerbose(bool verbose) { g_verbose = verbose; }

void Log(LogLevel level, absl::string_view message) {
  if (level == LogLevel::kDebug && !g_verbose) return;
  std::string m(message);
  if (g_syslog) {
    int prio = level == LogLevel::kError     ? LOG_ERR
               : level == LogLevel::kWarning ? LOG_WARNING
               : level == LogLevel::kInfo    ? LOG_INFO
                                             : LOG_DEBUG;
    syslog(prio, "%s", m.c_str());
    return;
  }
  std::fprintf(stderr, "kcorefs: %s: %s\n", Prefix(level), m.c_str());
}

bool LogRateLimiter::Allow(uint64_t* suppressed) {
  absl::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  if (now - window_start_ >= period_) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= burst_) {
    ++suppressed_;
    return false;
  }
  ++in_window_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace kcorefs::base
