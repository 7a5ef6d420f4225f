#include "server/engine.h"

#include "common/error.h"
#include "gtest/gtest.h"

namespace pil::server {
namespace {

devicetree::CoprocessorNode Node(const std::string& name,
                                 const std::string& status) {
  devicetree::CoprocessorNode node;
  node.name = name;
  node.path = "/soc@0/" + name;
  node.status = status;
  return node;
}

TEST(LifecycleEngine, ManagesEnabledNodesInOrder) {
  devicetree::Board board;
  board.coprocessors = {Node("adsp", "okay"), Node("mpss", "disabled"),
                        Node("cdsp", "ok")};
  LifecycleEngine engine(board);
  auto list = engine.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].node.name, "adsp");
  EXPECT_EQ(list[1].node.name, "cdsp");
  EXPECT_EQ(list[0].state, State::kOffline);
  EXPECT_GT(list[0].state_since, absl::UnixEpoch());
}

TEST(LifecycleEngine, InitialStatesByPath) {
  devicetree::Board board;
  board.coprocessors = {Node("adsp", "okay"), Node("cdsp", "okay")};
  LifecycleEngine engine(board, {{"/soc@0/cdsp", State::kRunning}});
  EXPECT_EQ(engine.Get("adsp")->state, State::kOffline);
  EXPECT_EQ(engine.Get("cdsp")->state, State::kRunning);
}

TEST(LifecycleEngine, UnknownNameListsKnownOnes) {
  devicetree::Board board;
  board.coprocessors = {Node("adsp", "okay"), Node("mpss", "disabled")};
  LifecycleEngine engine(board);
  auto got = engine.Get("mpss");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(got.status()), "UNKNOWN_COPROCESSOR");
  EXPECT_EQ(got.status().message(), "no coprocessor named 'mpss'; known: adsp");
}

}  // namespace
}  // namespace pil::server
