// A streaming JSON writer with two-space indentation.
//
//   JsonWriter json;
//   json.BeginObject().Key("name").String("adsp").Key("pas_id").Uint(1);
//   json.EndObject();
//   std::cout << json.str();
//
// Integers are written as JSON numbers. Strings are escaped per RFC 8259;
// bytes that are not valid UTF-8 are written as \u00XX (Latin-1).
// Misuse (a value where a key is expected, unbalanced End*) is a programming
// error and aborts.
#ifndef PILD_CLIENT_JSON_H_
#define PILD_CLIENT_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pil::client {

class JsonWriter {
 public:
  // `compact`: no indentation or line breaks inside the document (one
  // document per line, for streams).
  explicit JsonWriter(bool compact = false) : compact_(compact) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // The document so far, with a trailing newline once it is complete.
  std::string str() const;

 private:
  struct Frame {
    bool object;
    bool empty = true;
    bool expect_value = false;  // objects: a key was written
  };
  void BeforeValue();
  void Newline();

  bool compact_;
  std::string out_;
  std::vector<Frame> stack_;
};

// `value` as a quoted, escaped JSON string.
std::string JsonQuote(absl::string_view value);

}  // namespace pil::client

#endif  // PILD_CLIENT_JSON_H_
