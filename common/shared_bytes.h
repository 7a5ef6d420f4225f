// Immutable bytes shared by their users, with what keeps them alive (a
// string, or a read-only mapping of a file) and where they came from.
//
//   SharedBytes bytes(std::string("..."));
//   absl::string_view view = bytes.view();  // valid while any copy lives
#ifndef PILD_COMMON_SHARED_BYTES_H_
#define PILD_COMMON_SHARED_BYTES_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace pil {

class SharedBytes {
 public:
  SharedBytes() = default;
  explicit SharedBytes(std::string bytes, std::string identity = "")
      : SharedBytes(std::make_shared<const std::string>(std::move(bytes)),
                    std::move(identity)) {}
  explicit SharedBytes(std::shared_ptr<const std::string> bytes,
                       std::string identity = "")
      : view_(bytes == nullptr ? absl::string_view() : *bytes),
        owner_(std::move(bytes)),
        identity_(std::move(identity)) {}
  // `view` stays valid while `owner` lives.
  SharedBytes(std::shared_ptr<const void> owner, absl::string_view view,
              std::string identity, bool mapped)
      : view_(view),
        owner_(std::move(owner)),
        identity_(std::move(identity)),
        mapped_(mapped) {}

  absl::string_view view() const { return view_; }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  // Names the content for as long as it is unchanged (a file's device,
  // inode, size and times; an upload's digest); empty when nothing does.
  const std::string& identity() const { return identity_; }
  // A read-only mapping of a file rather than a copy in memory.
  bool mapped() const { return mapped_; }

 private:
  absl::string_view view_;
  std::shared_ptr<const void> owner_;
  std::string identity_;
  bool mapped_ = false;
};

}  // namespace pil

#endif  // PILD_COMMON_SHARED_BYTES_H_
