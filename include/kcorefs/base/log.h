// Diagnostics: stderr while in the foreground, syslog once the daemon has detached.
#ifndef KCOREFS_BASE_LOG_H_
#define KCOREFS_BASE_LOG_H_

#include "absl/strings/string_view.h"

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

}  // namespace kcorefs::base

#endif  // KCOREFS_BASE_LOG_H_
