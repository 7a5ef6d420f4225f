#include <string>

#include "client/args.h"
#include "client/exit_codes.h"
#include "client/json.h"
#include "client/table.h"
#include "common/error.h"
#include "gtest/gtest.h"

namespace pil::client {
namespace {

absl::StatusOr<Args> Parse(std::vector<const char*> words) {
  words.insert(words.begin(), "pilctl");
  return ParseArgs(static_cast<int>(words.size()), words.data(),
                   {{"server", true}, {"json", false}, {"help", false}});
}

TEST(Args, OptionsAnywhere) {
  auto args = Parse({"--json", "status", "--server", "unix:/s", "adsp"});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->positional, (std::vector<std::string>{"status", "adsp"}));
  EXPECT_TRUE(args->Has("json"));
  EXPECT_EQ(args->Value("server"), "unix:/s");
  args = Parse({"list", "--server=a:1", "-h"});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->Value("server"), "a:1");
  EXPECT_TRUE(args->Has("help"));
}

TEST(Args, DoubleDashEndsOptions) {
  auto args = Parse({"devicetree", "--", "--weird.dtb"});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->positional,
            (std::vector<std::string>{"devicetree", "--weird.dtb"}));
}

TEST(Args, ErrorsNameTheWord) {
  EXPECT_EQ(Parse({"--nope"}).status().message(), "unknown option --nope");
  EXPECT_EQ(Parse({"-x"}).status().message(), "unknown option -x");
  EXPECT_EQ(Parse({"--server"}).status().message(),
            "option --server needs a value");
  EXPECT_EQ(Parse({"--json=1"}).status().message(),
            "option --json takes no value");
}

TEST(Json, NestedPrettyDocument) {
  JsonWriter json;
  json.BeginObject();
  json.Key("name").String("adsp");
  json.Key("sids").BeginArray().Uint(4096).Uint(0).EndArray();
  json.Key("empty").BeginArray().EndArray();
  json.Key("none").Null();
  json.Key("ok").Bool(true);
  json.Key("delta").Int(-3);
  json.Key("obj").BeginObject().EndObject();
  json.EndObject();
  EXPECT_EQ(json.str(),
            "{\n"
            "  \"name\": \"adsp\",\n"
            "  \"sids\": [\n"
            "    4096,\n"
            "    0\n"
            "  ],\n"
            "  \"empty\": [],\n"
            "  \"none\": null,\n"
            "  \"ok\": true,\n"
            "  \"delta\": -3,\n"
            "  \"obj\": {}\n"
            "}\n");
}

TEST(Json, Escaping) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  // Invalid UTF-8 bytes are escaped one by one.
  EXPECT_EQ(JsonQuote("\xff\xc3"), "\"\\u00ff\\u00c3\"");
  EXPECT_EQ(JsonQuote(std::string("a\0b", 3)), "\"a\\u0000b\"");
}

TEST(JsonDeathTest, MisuseAborts) {
  EXPECT_DEATH(JsonWriter().BeginObject().String("no key"), "");
  EXPECT_DEATH(JsonWriter().BeginArray().EndObject(), "");
}

TEST(Table, AlignsColumns) {
  Table t({"NAME", "STATE"});
  t.AddRow({"video", "running"});
  t.AddRow({"adsp"});
  EXPECT_EQ(t.Render(),
            "NAME   STATE\n"
            "video  running\n"
            "adsp\n");
}

TEST(ExitCodes, StableMapping) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("")), 3);
  // A deadline is pild not answering in time, not pild unreachable.
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("")), 1);
  EXPECT_EQ(ExitCodeFor(Error(absl::StatusCode::kInvalidArgument, "USAGE",
                              "unknown option --x")),
            2);
  EXPECT_EQ(ExitCodeFor(Error(absl::StatusCode::kDeadlineExceeded,
                              "READY_TIMEOUT", "")),
            1);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("")), 4);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("")), 5);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("")), 6);
  EXPECT_EQ(ExitCodeFor(absl::AbortedError("")), 6);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("")), 7);
  EXPECT_EQ(ExitCodeFor(absl::UnimplementedError("")), 8);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("")), 1);
}

}  // namespace
}  // namespace pil::client
