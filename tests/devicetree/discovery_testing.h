// What the discovery tests share: a board discovered from a DTB file.
#ifndef PILD_TESTS_DEVICETREE_DISCOVERY_TESTING_H_
#define PILD_TESTS_DEVICETREE_DISCOVERY_TESTING_H_

#include <string>

#include "common/file.h"
#include "gtest/gtest.h"
#include "platform/devicetree/discovery.h"

namespace pil::devicetree {

// The board the DTB at `path` describes; a test failure (and an empty
// board) when it cannot be read or discovered.
inline Board LoadBoardFile(const std::string& path) {
  auto bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  auto board = Discover(bytes.value_or(""));
  EXPECT_TRUE(board.ok()) << board.status();
  return board.value_or(Board{});
}

}  // namespace pil::devicetree

#endif  // PILD_TESTS_DEVICETREE_DISCOVERY_TESTING_H_
