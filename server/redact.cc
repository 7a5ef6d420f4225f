#include "server/redact.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "common/error.h"

namespace pil::server {
namespace {

// strerror() of every errno value, longest first (so that no text is cut
// by a shorter one it contains).
const std::vector<std::string>& SystemErrors() {
  static const auto* texts = [] {
    auto* out = new std::vector<std::string>;
    for (int e = 1; e < 134; ++e) {
      std::string text = std::strerror(e);
      if (text.rfind("Unknown error", 0) != 0) out->push_back(text);
    }
    std::sort(out->begin(), out->end(),
              [](const std::string& a, const std::string& b) {
                return a.size() > b.size();
              });
    return out;
  }();
  return *texts;
}

bool EndsPath(char c) {
  return c == ' ' || c == '\'' || c == '"' || c == ',' || c == ';' ||
         c == ')' || c == '\n' || c == '\t';
}

// Every absolute path (a '/' at the start or after a space, quote, '(',
// '=' or ':') replaced by "<path>"; a path's trailing ':' is kept.
std::string WithoutPaths(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const bool starts = text[i] == '/' &&
                        (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\'' ||
                         text[i - 1] == '"' || text[i - 1] == '(' ||
                         text[i - 1] == '=' || text[i - 1] == ':');
    if (!starts) {
      out += text[i++];
      continue;
    }
    size_t end = i;
    while (end < text.size() && !EndsPath(text[end])) ++end;
    // "cannot open /x/y: No such file": the colon is the sentence's.
    while (end > i + 1 && text[end - 1] == ':') --end;
    out += "<path>";
    i = end;
  }
  return out;
}

bool Privileged(const access::Caller& caller) {
  return caller.uid == 0 && caller.certificate.empty();
}

std::string Scrubbed(absl::string_view text) {
  std::string message = WithoutPaths(text);
  for (const std::string& error : SystemErrors()) {
    if (message.find(error) != std::string::npos) {
      absl::StrReplaceAll({{error, "<system error>"}}, &message);
    }
  }
  return message;
}

}  // namespace

std::string RedactText(const access::Caller& caller, absl::string_view text) {
  return Privileged(caller) ? std::string(text) : Scrubbed(text);
}

absl::Status RedactFor(const access::Caller& caller,
                       const absl::Status& status) {
  if (status.ok() || Privileged(caller)) return status;
  const std::string message = Scrubbed(status.message());
  ErrorMetadata metadata = MetadataOf(status);
  metadata.erase("path");
  metadata.erase("searched");
  const std::string reason = ReasonOf(status);
  if (reason.empty()) return absl::Status(status.code(), message);
  return Error(status.code(), reason, message, metadata);
}

}  // namespace pil::server
