// Leveled logging to stderr, one line per message:
//
//   PILD_LOG(INFO) << "listening on " << address;
//
// Lines look like "I 2026-11-24T10:00:00.123Z server.cc:42] listening on ...".
// Thread-safe: each line is written with a single write(2).
#ifndef PILD_COMMON_LOG_H_
#define PILD_COMMON_LOG_H_

#include <sstream>

namespace pil::log {

enum class Severity { kInfo, kWarning, kError };

// Messages below this severity are dropped (default kInfo).
void SetMinSeverity(Severity severity);

class Line {
 public:
  Line(Severity severity, const char* file, int line);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  template <typename T>
  Line& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  Severity severity_;
  std::ostringstream stream_;
};

}  // namespace pil::log

#define PILD_LOG_SEVERITY_INFO ::pil::log::Severity::kInfo
#define PILD_LOG_SEVERITY_WARNING ::pil::log::Severity::kWarning
#define PILD_LOG_SEVERITY_ERROR ::pil::log::Severity::kError
#define PILD_LOG(severity) \
  ::pil::log::Line(PILD_LOG_SEVERITY_##severity, __FILE__, __LINE__)

#endif  // PILD_COMMON_LOG_H_
