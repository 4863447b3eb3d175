// Diagnostics: stderr while in the foreground, syslog once the daemon has detached.
#ifndef KCOREFS_BASE_LOG_H_
#define KCOREFS_BASE_LOG_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kcorefs::base {

enum class LogLevel { kError, kWarning, kInfo, kDebug };

// Switches output to syslog (called after daemonizing).
void LogToSyslog();
void SetVerbose(bool verbose);
void Log(LogLevel level, absl::string_view message);
inline void LogError(absl::string_view m) { Log(LogLevel::kError, m); }
inline void LogWarning(absl::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogInfo(absl::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogDebug(absl::string_view m) { Log(LogLevel::kDebug, m); }

// Lets through at most `burst` messages per `period` and counts the rest, so a reader
// hammering a bad range does not flood the log. Thread-safe.
class LogRateLimiter {
 public:
  LogRateLimiter(int burst, absl::Duration period) : burst_(burst), period_(period) {}
  // True when this message may be logged; then *suppressed is the number of messages
  // dropped since the last one that was let through (say so in the message).
  bool Allow(uint64_t* suppressed);

 private:
  const int burst_;
  const absl::Duration period_;
  absl::Mutex mu_;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int in_window_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kcorefs::base

#endif  // KCOREFS_BASE_LOG_H_
