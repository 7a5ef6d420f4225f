#include "client/json.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace pil::client {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t Utf8Length(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n = c < 0x80           ? 1
             : (c >> 5) == 0x6  ? 2
             : (c >> 4) == 0xe  ? 3
             : (c >> 3) == 0x1e ? 4
                                : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  if (n == 2 && c < 0xc2) return 0;  // overlong
  return n;
}

}  // namespace

std::string JsonQuote(absl::string_view value) {
  std::string out = "\"";
  char escape[8];
  for (size_t i = 0; i < value.size();) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      default:
        break;
    }
    size_t n = c < 0x20 ? 0 : Utf8Length(value, i);
    if (n == 0) {
      std::snprintf(escape, sizeof(escape), "\\u%04x", c);
      out += escape;
      ++i;
    } else {
      out.append(value.data() + i, n);
      i += n;
    }
  }
  out += '"';
  return out;
}

void JsonWriter::Newline() {
  if (compact_) return;
  out_ += '\n';
  out_.append(2 * stack_.size(), ' ');
}

void JsonWriter::BeforeValue() {
  if (stack_.empty()) {
    if (!out_.empty()) std::abort();  // a second top-level value
    return;
  }
  Frame& top = stack_.back();
  if (top.object) {
    if (!top.expect_value) std::abort();  // value without a key
    top.expect_value = false;
    return;
  }
  if (!top.empty) out_ += ',';
  top.empty = false;
  Newline();
}

JsonWriter& JsonWriter::Key(absl::string_view key) {
  if (stack_.empty() || !stack_.back().object || stack_.back().expect_value) {
    std::abort();
  }
  Frame& top = stack_.back();
  if (!top.empty) out_ += ',';
  top.empty = false;
  top.expect_value = true;
  Newline();
  out_ += JsonQuote(key);
  out_ += compact_ ? ":" : ": ";
  return *this;
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  stack_.push_back(Frame{true});
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  if (stack_.empty() || !stack_.back().object || stack_.back().expect_value) {
    std::abort();
  }
  const bool empty = stack_.back().empty;
  stack_.pop_back();
  if (!empty) Newline();
  out_ += '}';
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  stack_.push_back(Frame{false});
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  if (stack_.empty() || stack_.back().object) std::abort();
  const bool empty = stack_.back().empty;
  stack_.pop_back();
  if (!empty) Newline();
  out_ += ']';
  return *this;
}

JsonWriter& JsonWriter::String(absl::string_view value) {
  BeforeValue();
  out_ += JsonQuote(value);
  return *this;
}

JsonWriter& JsonWriter::Uint(uint64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

std::string JsonWriter::str() const {
  return stack_.empty() && !out_.empty() ? out_ + "\n" : out_;
}

}  // namespace pil::client
