// pilctl's policy commands: recovery (how a coprocessor reacts to crashes)
// and lease (holding coprocessors for the caller).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/command.h"
#include "client/exit_codes.h"
#include "client/format.h"
#include "client/json.h"
#include "client/lifecycle_format.h"
#include "common/error.h"
#include "common/rpc_status.h"

namespace pil::client {
namespace {

int RunRecovery(const Context& ctx) {
  const std::string& name = ctx.args.positional[1];
  if (!ctx.args.Has("restart") && !ctx.args.Has("max-restarts") &&
      !ctx.args.Has("initial-backoff")) {
    return UsageError(ctx,
                      "give --restart, --max-restarts or --initial-backoff "
                      "(the others keep their value)");
  }
  std::optional<bool> restart;
  if (auto text = ctx.args.Value("restart")) {
    if (*text != "on" && *text != "off") {
      return UsageError(
          ctx, absl::StrCat("--restart expects on or off, got '", *text, "'"));
    }
    restart = *text == "on";
  }
  std::optional<uint32_t> max_restarts;
  if (auto text = ctx.args.Value("max-restarts")) {
    uint64_t number = 0;
    if (!ParseNumber(*text, &number) || number > UINT32_MAX) {
      return UsageError(ctx, absl::StrCat("--max-restarts expects a number, "
                                          "got '",
                                          *text, "'"));
    }
    max_restarts = static_cast<uint32_t>(number);
  }
  auto backoff = DurationOption(ctx, "initial-backoff");
  if (!backoff.ok()) return Fail(ctx, backoff.status());

  PildClient client(ctx.client_options);
  v1::UpdateRecoveryPolicyRequest request;
  request.set_name(name);
  v1::RecoveryPolicy& policy = *request.mutable_recovery();
  if (!restart || !max_restarts || *backoff == absl::ZeroDuration()) {
    // The request carries the whole policy: start from the current one.
    auto current = client.GetCoprocessor(name);
    if (!current.ok()) return Fail(ctx, current.status());
    policy = current->recovery();
  }
  if (restart) policy.set_restart(*restart);
  if (max_restarts) policy.set_max_restarts(*max_restarts);
  if (*backoff > absl::ZeroDuration()) {
    absl::Duration nanos;
    policy.mutable_initial_backoff()->set_seconds(
        absl::IDivDuration(*backoff, absl::Seconds(1), &nanos));
    policy.mutable_initial_backoff()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(nanos)));
  }
  v1::Coprocessor updated;
  grpc::Status status = client.stub().UpdateRecoveryPolicy(
      client.NewContext().get(), request, &updated);
  if (!status.ok()) return Fail(ctx, FromGrpcStatus(status));
  if (ctx.json) {
    JsonWriter json;
    WriteCoprocessorJson(updated, json);
    std::cout << json.str();
  } else {
    std::cout << updated.name() << ": recovery "
              << RecoveryText(updated.recovery()) << "\n";
  }
  return kExitOk;
}

// The write end of the pipe SIGINT and SIGTERM wake a held lease through.
int signal_pipe = -1;

extern "C" void WakeOnSignal(int) {
  const char byte = 's';
  ssize_t written = write(signal_pipe, &byte, 1);
  (void)written;
}

// Waits until SIGINT, SIGTERM or end of input (true), or until a byte
// arrives on `ended` (false).
bool WaitForRelease(int signals, int ended) {
  pollfd fds[3] = {
      {signals, POLLIN, 0}, {ended, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  char buffer[512];
  for (;;) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;  // a signal: the pipe says which
      return true;
    }
    if (fds[0].revents != 0) return true;
    if (fds[1].revents != 0) return false;
    if (fds[2].revents & POLLNVAL) {
      fds[2].fd = -1;  // no standard input: signals only
    } else if (fds[2].revents != 0 &&
               read(STDIN_FILENO, buffer, sizeof(buffer)) <= 0) {
      return true;
    }
  }
}

int RunLease(const Context& ctx) {
  v1::LeaseRequest request;
  for (size_t i = 1; i < ctx.args.positional.size(); ++i) {
    request.add_names(ctx.args.positional[i]);
  }
  request.set_holder(ctx.args.Value("holder").value_or(""));
  int signals[2], ended[2];
  if (pipe2(signals, O_CLOEXEC) != 0 || pipe2(ended, O_CLOEXEC) != 0) {
    return Fail(ctx, absl::InternalError("cannot create a pipe"));
  }
  PildClient client(ctx.client_options);
  // No deadline: the lease lasts as long as the stream.
  grpc::ClientContext context;
  auto reader = client.stub().Lease(&context, request);
  v1::LeaseResponse grant;
  if (!reader->Read(&grant)) return Fail(ctx, FromGrpcStatus(reader->Finish()));
  signal_pipe = signals[1];
  struct sigaction action = {};
  action.sa_handler = WakeOnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::cout << (ctx.json ? LeaseJson(grant) : LeaseText(grant)) << std::flush;
  // Nothing follows the grant: the stream ends only when pild ends it.
  std::thread drain([&reader, &ended] {
    v1::LeaseResponse more;
    while (reader->Read(&more)) {
    }
    const char byte = 'e';
    ssize_t written = write(ended[1], &byte, 1);
    (void)written;
  });
  const bool released = WaitForRelease(signals[0], ended[0]);
  if (released) context.TryCancel();
  drain.join();
  grpc::Status status = reader->Finish();
  if (released) {
    if (!ctx.json) {
      std::cout << "released lease " << grant.lease_id()
                << ": pild stops what it held\n";
    }
    return kExitOk;
  }
  return Fail(ctx, status.ok() ? Error(absl::StatusCode::kUnavailable,
                                       "LEASE_ENDED", "pild ended the lease")
                               : FromGrpcStatus(status));
}

}  // namespace

std::vector<Command> PolicyCommands() {
  return {
      {"recovery",
       "NAME [--restart=on|off] [--max-restarts=N] [--initial-backoff=D]",
       "change how a coprocessor reacts to its next crashes, until pild "
       "restarts (options not given keep their value)",
       2,
       2,
       RunRecovery,
       {{"restart", true}, {"max-restarts", true}, {"initial-backoff", true}}},
      {"lease",
       "NAME... [--holder=TEXT]",
       "hold coprocessors (nobody else may start or stop them) until Ctrl-C, "
       "SIGTERM or end of input; pild then stops them, as it does when "
       "pilctl dies",
       2,
       65,
       RunLease,
       {{"holder", true}}},
  };
}

}  // namespace pil::client
