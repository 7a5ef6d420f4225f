#include "common/error.h"

#include "common/rpc_status.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace pil {
namespace {

TEST(Error, CarriesReasonAndMetadata) {
  absl::Status s = Error(absl::StatusCode::kInvalidArgument, "HASH_MISMATCH",
                         "segment 3 differs", {{"segment", "3"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "segment 3 differs");
  EXPECT_EQ(ReasonOf(s), "HASH_MISMATCH");
  EXPECT_EQ(MetadataOf(s), (ErrorMetadata{{"segment", "3"}}));
}

TEST(Error, PlainStatusHasNoReason) {
  EXPECT_EQ(ReasonOf(absl::InternalError("x")), "");
  EXPECT_TRUE(MetadataOf(absl::InternalError("x")).empty());
}

TEST(Error, AnnotateKeepsReasonAndMetadata) {
  absl::Status s = Annotate(Error(absl::StatusCode::kNotFound, "FILE_NOT_FOUND",
                                  "no such file", {{"path", "/a"}}),
                            "loading adsp");
  EXPECT_EQ(s.message(), "loading adsp: no such file");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(s), "FILE_NOT_FOUND");
  EXPECT_EQ(MetadataOf(s).at("path"), "/a");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

TEST(Error, WithMetadataAddsAndReplaces) {
  absl::Status s = Error(absl::StatusCode::kInternal, "R", "m", {{"a", "1"}});
  s = WithMetadata(s, "a", "2");
  s = WithMetadata(s, "b", "3");
  EXPECT_EQ(MetadataOf(s), (ErrorMetadata{{"a", "2"}, {"b", "3"}}));
  EXPECT_TRUE(WithMetadata(absl::OkStatus(), "a", "1").ok());
}

TEST(RpcStatus, ReasonTravelsAsErrorInfo) {
  absl::Status s = Error(absl::StatusCode::kFailedPrecondition, "WRONG_STATE",
                         "adsp is running", {{"state", "running"}});
  grpc::Status wire = ToGrpcStatus(s);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(wire.error_message(), "adsp is running");

  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(wire.error_details()));
  EXPECT_EQ(details.code(), 9);
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(),
            "type.googleapis.com/google.rpc.ErrorInfo");
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "WRONG_STATE");
  EXPECT_EQ(info.domain(), "pild");
  EXPECT_EQ(info.metadata().at("state"), "running");

  absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), s.code());
  EXPECT_EQ(back.message(), s.message());
  EXPECT_EQ(ReasonOf(back), "WRONG_STATE");
  EXPECT_EQ(MetadataOf(back), MetadataOf(s));
}

TEST(RpcStatus, StatusWithoutReasonHasNoDetails) {
  grpc::Status wire = ToGrpcStatus(absl::UnavailableError("down"));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(wire.error_details().empty());
  EXPECT_EQ(ReasonOf(FromGrpcStatus(wire)), "");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(RpcStatus, GarbageDetailsAreIgnored) {
  grpc::Status wire(grpc::StatusCode::INTERNAL, "x", "\xff\xff garbage");
  absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ReasonOf(back), "");
}

TEST(RpcStatus, ErrorInfoOfAnotherDomainIsNotPilds) {
  google::rpc::ErrorInfo foreign;
  foreign.set_reason("HASH_MISMATCH");
  foreign.set_domain("googleapis.com");
  (*foreign.mutable_metadata())["segment"] = "3";
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::UNAVAILABLE);
  details.add_details()->PackFrom(foreign);
  grpc::Status wire(grpc::StatusCode::UNAVAILABLE, "proxy says no",
                    details.SerializeAsString());
  absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(back.message(), "proxy says no");
  EXPECT_EQ(ReasonOf(back), "");
  EXPECT_TRUE(MetadataOf(back).empty());

  // pild's own, after a foreign one, is still found.
  google::rpc::ErrorInfo own;
  own.set_reason("BUSY");
  own.set_domain("pild");
  details.add_details()->PackFrom(own);
  wire = grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy",
                      details.SerializeAsString());
  EXPECT_EQ(ReasonOf(FromGrpcStatus(wire)), "BUSY");
}

}  // namespace
}  // namespace pil
