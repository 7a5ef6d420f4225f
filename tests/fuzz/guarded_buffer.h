// A copy of fuzz input placed so that its (8-byte rounded) end touches an
// inaccessible page: a read past the end faults even in code that is not
// compiled with sanitizers (system libraries such as libfdt).
#ifndef PILD_TESTS_FUZZ_GUARDED_BUFFER_H_
#define PILD_TESTS_FUZZ_GUARDED_BUFFER_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace pil::fuzz {

class GuardedBuffer {
 public:
  GuardedBuffer(const uint8_t* data, size_t size);
  ~GuardedBuffer();
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // The copy; 8-byte aligned.
  absl::string_view view() const { return absl::string_view(data_, size_); }

 private:
  char* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pil::fuzz

#endif  // PILD_TESTS_FUZZ_GUARDED_BUFFER_H_
