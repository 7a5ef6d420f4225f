// Fuzz target: raw request bytes, unparsed, sent to pild's gRPC service on
// its own Unix socket (the real LifecycleService, gate and engine on a
// simulated SoC): the streaming handlers (Watch, UploadFirmware,
// GetCoredump) and the reads (ListCoprocessors, GetCoprocessor,
// GetHistory, InspectImage, GetInfo). Besides never crashing, pild must
// answer every call before its deadline, and every failure must be one of
// its own (with a reason) or gRPC's refusal of bytes that do not parse.
//
// Input: records of [method u8][length u16 LE][payload]; method % 8 picks
// the method; the payload is the serialized request, or for UploadFirmware
// a sequence of [length u16 LE][message] records.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/error.h"
#include "common/grpc_runtime.h"
#include "common/rpc_status.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/bytes.h"
#include "platform/pas/pas_backend.h"
#include "platform/sim/boards.h"
#include "platform/sim/soc.h"
#include "proto/pil/v1/history.pb.h"
#include "proto/pil/v1/info.pb.h"
#include "proto/pil/v1/lifecycle.pb.h"
#include "server/access/policy.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/gate.h"
#include "server/history.h"
#include "server/service.h"
#include "server/unix_listener.h"

namespace {

using pil::image::Le16;
namespace v1 = pil::v1;

// pild, once per process.
struct Pild {
  std::unique_ptr<pil::sim::SimSoc> soc;
  pil::devicetree::Board board;
  std::unique_ptr<pil::pas::PasBackend> backend;
  pil::server::FirmwareStore store{{}};
  pil::server::History history;
  std::unique_ptr<pil::server::LifecycleEngine> engine;
  std::unique_ptr<pil::server::Gate> gate;
  std::unique_ptr<pil::server::LifecycleService> service;
  std::unique_ptr<pil::server::UnixListener> listener;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::GenericStub> stub;
};

[[noreturn]] void Fail(const std::string& what) {
  std::cerr << what << "\n";
  std::abort();
}

Pild& Get() {
  static Pild* pild = [] {
    pil::KeepGrpcRuntime();
    auto* p = new Pild;
    auto dtb = pil::sim::BundledBoard(pil::sim::kDefaultBoard);
    if (!dtb.ok()) Fail(std::string(dtb.status().message()));
    pil::sim::v1::Profile profile;
    profile.mutable_timings()->set_boot_ms(1);
    auto soc = pil::sim::SimSoc::Create(*dtb, profile, "");
    if (!soc.ok()) Fail(std::string(soc.status().message()));
    p->soc = std::move(*soc);
    p->board = *pil::devicetree::Discover(*dtb);
    p->backend = std::make_unique<pil::pas::PasBackend>(p->soc.get(), p->board,
                                                        pil::pas::PasOptions());
    p->engine = std::make_unique<pil::server::LifecycleEngine>(
        p->backend.get(), p->board, &p->store, &p->history);
    if (!p->engine->Adopt().ok()) Fail("adopt");
    pil::access::Policy policy;  // root only, as pild without --policy
    if (getuid() != 0) {
      policy = *pil::access::Policy::Parse(
          absl::StrCat("rule { uid: ", getuid(), " role: ADMIN }"), "fuzz",
          {"adsp", "video", "cdsp"});
    }
    p->gate =
        std::make_unique<pil::server::Gate>(&p->history, std::move(policy));
    pil::server::ServerFacts facts;
    facts.backend = "sim";
    p->service = std::make_unique<pil::server::LifecycleService>(
        p->engine.get(), &p->store, p->gate.get(), facts);
    const std::string socket =
        absl::StrCat("/tmp/pild-service-fuzzer-", getpid(), ".sock");
    auto listener = pil::server::UnixListener::Listen(socket);
    if (!listener.ok()) Fail(std::string(listener.status().message()));
    p->listener = std::move(*listener);
    grpc::ServerBuilder builder;
    builder.RegisterService(p->service.get());
    p->server = builder.BuildAndStart();
    p->listener->Start(p->server.get());
    p->stub = std::make_unique<grpc::GenericStub>(grpc::CreateChannel(
        "unix:" + socket, grpc::InsecureChannelCredentials()));
    return p;
  }();
  return *pild;
}

grpc::ByteBuffer Bytes(absl::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

// Whether `bytes` parse as the request message `Message`.
template <typename Message>
bool Parses(absl::string_view bytes) {
  Message message;
  return message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

// `parsed`: whether every message sent parses as the method's request.
void Check(const std::string& method, const grpc::Status& status, bool parsed) {
  if (status.ok()) return;
  const bool reason = !pil::ReasonOf(pil::FromGrpcStatus(status)).empty();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && !reason) {
    Fail(method + ": no answer before the deadline");
  }
  // gRPC refuses bytes that are not the request message itself; this
  // fuzzer cancels streams it stops reading.
  if (reason || !parsed || status.error_code() == grpc::StatusCode::CANCELLED) {
    return;
  }
  Fail(absl::StrCat(method, ": a failure without pild's reason: ",
                    status.error_code(), " ", status.error_message()));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  return context;
}

void Unary(const std::string& method, absl::string_view bytes, bool parsed) {
  auto context = Context();
  const grpc::ByteBuffer request = Bytes(bytes);
  grpc::ByteBuffer response;
  grpc::Status status;
  bool done = false;
  std::mutex mu;
  std::condition_variable cv;
  Get().stub->UnaryCall(context.get(), "/pil.v1.LifecycleService/" + method,
                        grpc::StubOptions(), &request, &response,
                        [&](grpc::Status s) {
                          std::lock_guard<std::mutex> lock(mu);
                          status = std::move(s);
                          done = true;
                          cv.notify_one();
                        });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  Check(method, status, parsed);
}

// A stream: `writes` sent, then up to `reads` answers read; cancelled when
// it is still open then (a watch stays open).
void Stream(const std::string& method, const std::vector<std::string>& writes,
            int reads, bool parsed) {
  grpc::CompletionQueue cq;
  auto context = Context();
  auto call = Get().stub->PrepareCall(
      context.get(), "/pil.v1.LifecycleService/" + method, &cq);
  auto step = [&](intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok) || reinterpret_cast<intptr_t>(tag) != want) {
      Fail(method + ": the completion queue went wrong");
    }
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  bool open = step(1);
  for (const std::string& message : writes) {
    if (!open) break;
    call->Write(Bytes(message), reinterpret_cast<void*>(2));
    open = step(2);
  }
  if (open) {
    call->WritesDone(reinterpret_cast<void*>(3));
    open = step(3);
  }
  bool more = true;
  for (int read = 0; more && read < reads; ++read) {
    grpc::ByteBuffer answer;
    call->Read(&answer, reinterpret_cast<void*>(4));
    more = step(4);
  }
  if (more) context->TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  cq.Shutdown();
  Check(method, status, parsed);
}

// [length u16][message] records.
std::vector<std::string> Messages(absl::string_view payload) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at + 2 <= payload.size() && out.size() < 16) {
    const size_t length = Le16(payload, at);
    at += 2;
    out.emplace_back(payload.substr(at, length));
    at += out.back().size();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  for (int calls = 0; at + 3 <= input.size() && calls < 8; ++calls) {
    const uint8_t method = data[at] % 13;
    const size_t length = Le16(input, at + 1);
    at += 3;
    const absl::string_view payload = input.substr(at, length);
    at += payload.size();
    switch (method) {
      case 0:
        Stream("Watch", {std::string(payload)}, 1,
               Parses<v1::WatchRequest>(payload));
        break;
      case 1:
        Unary("GetCoprocessor", payload,
              Parses<v1::GetCoprocessorRequest>(payload));
        break;
      case 2:
        Unary("ListCoprocessors", payload,
              Parses<v1::ListCoprocessorsRequest>(payload));
        break;
      case 3:
        Unary("GetHistory", payload, Parses<v1::GetHistoryRequest>(payload));
        break;
      case 4:
        Unary("InspectImage", payload,
              Parses<v1::InspectImageRequest>(payload));
        break;
      case 5:
        Stream("GetCoredump", {std::string(payload)}, 64,
               Parses<v1::GetCoredumpRequest>(payload));
        break;
      case 6: {
        const std::vector<std::string> messages = Messages(payload);
        bool parsed = true;
        for (const std::string& m : messages) {
          parsed &= Parses<v1::UploadFirmwareRequest>(m);
        }
        Stream("UploadFirmware", messages, 1, parsed);
        break;
      }
      case 7:
        Unary("GetInfo", payload, Parses<v1::GetInfoRequest>(payload));
        break;
      case 8:
        Stream("Lease", {std::string(payload)}, 1,
               Parses<v1::LeaseRequest>(payload));
        break;
      case 9:
        Unary("ListCoredumps", payload,
              Parses<v1::ListCoredumpsRequest>(payload));
        break;
      case 10:
        Unary("ListUploads", payload, Parses<v1::ListUploadsRequest>(payload));
        break;
      case 11:
        Unary("DeleteUpload", payload,
              Parses<v1::DeleteUploadRequest>(payload));
        break;
      case 12:
        Unary("UpdateRecoveryPolicy", payload,
              Parses<v1::UpdateRecoveryPolicyRequest>(payload));
        break;
    }
  }
  return 0;
}
