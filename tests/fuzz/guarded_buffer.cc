#include "tests/fuzz/guarded_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace pil::fuzz {

GuardedBuffer::GuardedBuffer(const uint8_t* data, size_t size) : size_(size) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t rounded = (size + 7) / 8 * 8;
  const size_t data_pages = (rounded + page - 1) / page;
  mapping_size_ = (data_pages + 1) * page;
  void* mapping = ::mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) std::abort();
  mapping_ = static_cast<char*>(mapping);
  char* guard = mapping_ + data_pages * page;
  if (::mprotect(guard, page, PROT_NONE) != 0) std::abort();
  char* start = guard - rounded;
  if (size != 0) std::memcpy(start, data, size);
  data_ = start;
}

GuardedBuffer::~GuardedBuffer() { ::munmap(mapping_, mapping_size_); }

}  // namespace pil::fuzz
