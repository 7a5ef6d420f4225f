#include "server/connections.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::server {

void ConnectionTable::Prune() {
  for (auto it = open_.begin(); it != open_.end();) {
    struct stat st;
    const bool same = ::fstat(it->first, &st) == 0 && S_ISSOCK(st.st_mode) &&
                      st.st_ino == it->second.inode;
    it = same ? std::next(it) : open_.erase(it);
  }
}

size_t ConnectionTable::CountOf(uid_t uid) const {
  size_t n = 0;
  for (const auto& [fd, entry] : open_) n += entry.uid == uid;
  return n;
}

size_t ConnectionTable::NonRoot() const { return open_.size() - CountOf(0); }

absl::Status ConnectionTable::Admit(int fd, uid_t uid) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return Error(absl::StatusCode::kInternal, "CONNECTION_LOST",
                 "the new connection's descriptor cannot be examined");
  }
  // A descriptor number reused by a new connection replaces its old entry.
  open_.erase(fd);
  auto over = [&] {
    if (uid == 0) return open_.size() >= limits_.total + limits_.root_reserve;
    return NonRoot() >= limits_.total || CountOf(uid) >= limits_.per_caller;
  };
  if (over()) Prune();
  if (over()) {
    const bool mine = uid != 0 && CountOf(uid) >= limits_.per_caller;
    const size_t limit = uid == 0 ? limits_.total + limits_.root_reserve
                                  : (mine ? limits_.per_caller : limits_.total);
    return Error(absl::StatusCode::kResourceExhausted, "TOO_MANY_CONNECTIONS",
                 absl::StrCat(mine ? absl::StrCat("uid ", uid) : "pild",
                              " already holds ", limit,
                              " connections, the most allowed"),
                 {{"limit", absl::StrCat(limit)}});
  }
  open_[fd] = {st.st_ino, uid};
  return absl::OkStatus();
}

}  // namespace pil::server
