// AsyncClient::Upload and GetCoredump: streamed, never whole in memory.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/async_internal.h"
#include "common/error.h"
#include "common/rpc_status.h"

namespace pil::client::internal {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::Update(const void* data, size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}
std::string Sha256::Hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &size);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), size));
}

namespace {

using Stub = v1::LifecycleService::Stub;
constexpr size_t kChunk = size_t{1} << 20;

absl::Status FileError(const std::string& what, const std::string& path) {
  return Error(absl::StatusCode::kFailedPrecondition, "LOCAL_FILE_ERROR",
               absl::StrCat(what, " ", path, ": ", std::strerror(errno)),
               {{"path", path}});
}

// Both transfers: answered once, file descriptor closed.
struct Transfer : CallBase {
  int fd = -1;
  absl::Status local;  // a failure on this side, which cancelled the call
  ~Transfer() override {
    if (fd >= 0) close(fd);
  }
};

class Uploader final
    : public Transfer,
      public grpc::ClientWriteReactor<v1::UploadFirmwareRequest> {
 public:
  Uploader(uint64_t size, Done<UploadResult> done,
           std::function<void(uint64_t, uint64_t)> progress)
      : size_(size), done_(std::move(done)), progress_(std::move(progress)) {}

  void Begin(const std::string& display_name) {
    v1::UploadHeader* header = message_.mutable_header();
    header->set_name(display_name);
    header->set_size(size_);
    header->set_request_id(NewRequestId());
    StartWrite(&message_);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // OnDone says why
    if (sent_ > 0 && progress_) progress_(sent_, size_);
    if (sent_ == size_) {
      struct stat st;
      if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != size_) {
        // Changed while it was sent: what pild got is not the file.
        local = Error(absl::StatusCode::kFailedPrecondition, "LOCAL_FILE_ERROR",
                      absl::StrCat(path_, " changed size while it was sent"),
                      {{"path", path_}});
        context.TryCancel();
      }
      StartWritesDone();
      return;
    }
    std::string* chunk = message_.mutable_chunk();
    chunk->resize(std::min<uint64_t>(kChunk, size_ - sent_));
    ssize_t got;
    do {
      got = pread(fd, chunk->data(), chunk->size(), static_cast<off_t>(sent_));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      if (got == 0) errno = EIO;  // the file shrank
      local = FileError("cannot read", path_);
      context.TryCancel();
      StartWritesDone();
      return;
    }
    chunk->resize(static_cast<size_t>(got));
    hash_.Update(chunk->data(), chunk->size());
    sent_ += static_cast<uint64_t>(got);
    StartWrite(&message_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::StatusOr<UploadResult> result;
    if (!local.ok()) {
      result = local;
    } else if (!status.ok()) {
      result = FromGrpcStatus(status);
    } else if (response_.sha256() != hash_.Hex() || response_.size() != size_) {
      result = Error(
          absl::StatusCode::kDataLoss, "UPLOAD_CORRUPTED",
          absl::StrCat("pild stored ", response_.size(), " bytes with SHA-256 ",
                       response_.sha256(), "; sent ", size_, " bytes"));
    } else {
      result = UploadResult{response_.sha256(), response_.size()};
    }
    done_(std::move(result));
    self_.reset();  // deletes this (unless a Call handle is cancelling)
  }

  void Abandon(LocalAnswers& answers) {
    Refuse(answers, std::move(done_),
           absl::CancelledError("the client is being destroyed"));
  }

  std::string path_;
  v1::UploadFirmwareResponse response_;
  std::shared_ptr<Uploader> self_;  // alive until OnDone

 private:
  const uint64_t size_;
  uint64_t sent_ = 0;
  Done<UploadResult> done_;
  std::function<void(uint64_t, uint64_t)> progress_;
  v1::UploadFirmwareRequest message_;
  Sha256 hash_;
};

class Downloader final : public Transfer,
                         public grpc::ClientReadReactor<v1::CoredumpChunk> {
 public:
  explicit Downloader(Done<CoredumpResult> done) : done_(std::move(done)) {}

  void Begin() {
    StartRead(&chunk_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (chunk_.has_info() == has_info_) {
      local = Error(absl::StatusCode::kDataLoss, "COREDUMP_CORRUPTED",
                    has_info_ ? "pild announced the coredump twice"
                              : "pild sent coredump data before its info");
      context.TryCancel();
      return;
    }
    if (chunk_.has_info()) {
      info_ = chunk_.info();
      has_info_ = true;
    } else if (received_ + chunk_.data().size() > info_.size()) {
      local = Error(absl::StatusCode::kDataLoss, "COREDUMP_CORRUPTED",
                    absl::StrCat("pild sent more than the announced ",
                                 info_.size(), " bytes"));
      context.TryCancel();
      return;
    } else {
      const std::string& data = chunk_.data();
      for (size_t at = 0; at < data.size();) {
        const ssize_t n = write(fd, data.data() + at, data.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          local = FileError("cannot write", path_);
          context.TryCancel();
          return;
        }
        at += static_cast<size_t>(n);
      }
      hash_.Update(data.data(), data.size());
      received_ += data.size();
    }
    StartRead(&chunk_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::StatusOr<CoredumpResult> result;
    if (!local.ok()) {
      result = local;
    } else if (!status.ok()) {
      result = FromGrpcStatus(status);
    } else if (!has_info_ || received_ != info_.size() ||
               hash_.Hex() != info_.sha256()) {
      result =
          Error(absl::StatusCode::kDataLoss, "COREDUMP_CORRUPTED",
                absl::StrCat("received ", received_,
                             " bytes that do not match the announced "
                             "size ",
                             info_.size(), " and SHA-256 ", info_.sha256()));
    } else if (fsync(fd) != 0 || close(std::exchange(fd, -1)) != 0) {
      result = FileError("cannot write", path_);
    } else {
      result = CoredumpResult{info_.crash_id(), info_.reason(), info_.size(),
                              info_.sha256()};
    }
    if (!result.ok()) unlink(path_.c_str());
    done_(std::move(result));
    self_.reset();
  }

  void Abandon(LocalAnswers& answers) {
    Refuse(answers, std::move(done_),
           absl::CancelledError("the client is being destroyed"));
  }

  std::string path_;
  v1::GetCoredumpRequest request_;
  std::shared_ptr<Downloader> self_;

 private:
  Done<CoredumpResult> done_;
  v1::CoredumpChunk chunk_;
  v1::CoredumpInfo info_;
  bool has_info_ = false;
  uint64_t received_ = 0;
  Sha256 hash_;
};

}  // namespace

Call StartUpload(Stub& stub, Tracker& tracker, LocalAnswers& answers,
                 const std::string& path, const std::string& display_name,
                 absl::Duration timeout, Done<UploadResult> done,
                 std::function<void(uint64_t, uint64_t)> progress) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    Refuse(answers, std::move(done), FileError("cannot read", path));
    if (fd >= 0) close(fd);
    return Call();
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    Refuse(
        answers, std::move(done),
        Error(absl::StatusCode::kFailedPrecondition, "LOCAL_FILE_ERROR",
              absl::StrCat(path, " is not a regular file"), {{"path", path}}));
    return Call();
  }
  auto up = std::make_shared<Uploader>(static_cast<uint64_t>(st.st_size),
                                       std::move(done), std::move(progress));
  up->fd = fd;
  up->path_ = path;
  Prepare(up->context, timeout);
  if (!tracker.Add(up)) {
    up->Abandon(answers);
    return Call();
  }
  up->self_ = up;
  stub.async()->UploadFirmware(&up->context, &up->response_, up.get());
  up->Begin(display_name);
  return Call(std::weak_ptr<void>(
      std::shared_ptr<void>(up, static_cast<CallBase*>(up.get()))));
}

Call StartCoredump(Stub& stub, Tracker& tracker, LocalAnswers& answers,
                   const std::string& name, uint64_t crash_id,
                   const std::string& path, absl::Duration timeout,
                   Done<CoredumpResult> done) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    Refuse(answers, std::move(done), FileError("cannot create", path));
    return Call();
  }
  auto down = std::make_shared<Downloader>(std::move(done));
  down->fd = fd;
  down->path_ = path;
  down->request_.set_name(name);
  down->request_.set_crash_id(crash_id);
  Prepare(down->context, timeout);
  if (!tracker.Add(down)) {
    unlink(path.c_str());
    down->Abandon(answers);
    return Call();
  }
  down->self_ = down;
  stub.async()->GetCoredump(&down->context, &down->request_, down.get());
  down->Begin();
  return Call(std::weak_ptr<void>(
      std::shared_ptr<void>(down, static_cast<CallBase*>(down.get()))));
}

}  // namespace pil::client::internal
