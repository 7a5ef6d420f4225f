#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/printable.h"

namespace pil::log {
namespace {

std::atomic<Severity> min_severity{Severity::kInfo};

char Letter(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return 'I';
    case Severity::kWarning:
      return 'W';
    case Severity::kError:
      return 'E';
  }
  return '?';
}

const char* Basename(const char* path) {
  const char* base = path;
  for (const char* p = path; *p != '\0'; ++p) {
    if (*p == '/') base = p + 1;
  }
  return base;
}

}  // namespace

void SetMinSeverity(Severity severity) { min_severity = severity; }

Line::Line(Severity severity, const char* file, int line)
    : severity_(severity) {
  stream_ << Letter(severity) << ' '
          << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                              absl::UTCTimeZone())
          << ' ' << Basename(file) << ':' << line << "] ";
}

Line::~Line() {
  if (severity_ < min_severity.load()) return;
  // One record per line: control characters (from names a client chose,
  // say) are written as \xNN and cannot forge or hide lines.
  std::string text = Printable(stream_.str());
  text += '\n';
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

}  // namespace pil::log
