// PasCoprocessor: the steps that boot a coprocessor (Authenticate, Map,
// Reset) and a restart after a crash.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/page.h"
#include "platform/image/layout.h"
#include "platform/pas/pas_coprocessor.h"
#include "platform/pas/resource_table.h"
#include "platform/pas/smmu_rules.h"
#include "platform/verify.h"

namespace pil::pas {

using platform::Steps;

PasCoprocessor::PasCoprocessor(Hardware* hardware,
                               const devicetree::CoprocessorNode& node,
                               int verify_threads,
                               std::atomic<bool>* os_owns_iommu)
    : hw_(*hardware),
      node_(node),
      verify_threads_(verify_threads),
      os_owns_iommu_(*os_owns_iommu),
      wrapper_(node.boot == devicetree::BootMethod::kVideoWrapper) {
  if (node.dtb_pas_id && node.firmware_names.size() >= 2 &&
      node.carveouts.size() >= 2) {
    dtb_pas_ = node.dtb_pas_id;
  }
}

platform::Capabilities PasCoprocessor::capabilities() const {
  return {/*separate_steps=*/true, ""};
}

uint32_t PasCoprocessor::pas_id(bool dtb) const {
  return dtb ? *dtb_pas_ : *node_.pas_id;
}

absl::Status PasCoprocessor::Place(
    const image::FirmwareImage& image, bool dtb, Steps& steps,
    std::optional<platform::VerifiedImage>* verified) {
  const devicetree::CarveoutRange& carveout = node_.carveouts[dtb ? 1 : 0];
  return steps.Step(
      dtb ? "verify_and_copy_dtb" : "verify_and_copy", [&](std::string* d) {
        auto v = platform::VerifyForCarveout(
            image, carveout, verify_threads_,
            [&](uint64_t address, uint64_t size) {
              return hw_.memory().Map(address, size);
            },
            [&](absl::Span<uint8_t> span) { hw_.memory().Zero(span); },
            // The secure world re-hashes the copy; without
            // it pild's hashing is the only check.
            /*copy_if_verified=*/!wrapper_);
        if (!v.ok()) return v.status();
        if (!dtb) {
          absl::MutexLock lock(&mu_);
          placed_.clear();
          for (const platform::PlacedSegment& s : v->placed) {
            placed_.push_back({s.address, s.size});
          }
          machine_ = v->machine;
        }
        *d = v->summary;
        *verified = v->image;
        return absl::OkStatus();
      });
}

absl::Status PasCoprocessor::InitImage(const image::FirmwareImage& image,
                                       bool dtb, Steps& steps) {
  const uint32_t id = pas_id(dtb);
  if (absl::Status s = steps.Step(
          "pas_init_image",
          [&](std::string* d) {
            const std::string metadata = image.Metadata();
            *d = absl::StrCat("PAS id ", id, ", metadata ", metadata.size(),
                              " bytes (headers + hash segment)");
            absl::Status st = hw_.secure_world().PasInitImage(id, metadata);
            if (st.ok()) {
              Claim claim;
              claim.kind = Claim::Kind::kMetadata;
              claim.pas_id = id;
              claims_.Add(claim, "release_metadata",
                          absl::StrCat("PAS id ", id), [this, id] {
                            return hw_.secure_world().ReleaseMetadata(id);
                          });
            }
            return st;
          });
      !s.ok()) {
    return s;
  }
  auto layout = image::ComputeLayout(image.segments());
  if (!layout.ok() || !layout->relocatable) return absl::OkStatus();
  const devicetree::CarveoutRange& c = node_.carveouts[dtb ? 1 : 0];
  return steps.Step("pas_mem_setup", [&](std::string* d) {
    *d = absl::StrCat("PAS id ", id, " relocated to ", Hex(c.base), ", span ",
                      Hex(layout->span()));
    return hw_.secure_world().PasMemSetup(id, c.base, layout->span());
  });
}

absl::StatusOr<platform::VerifiedImage> PasCoprocessor::Authenticate(
    const platform::BootImages& images, Steps& steps) {
  if (!claims_.empty()) {
    // Never copy an image over memory a core may still run from.
    return Error(absl::StatusCode::kFailedPrecondition, "STILL_HELD",
                 absl::StrCat(node_.name,
                              " still holds what an earlier boot acquired "
                              "and could not be released; stop it first"),
                 {{"coprocessor", node_.name}});
  }
  std::optional<platform::VerifiedImage> main, dtb;
  if (wrapper_) {
    if (absl::Status s = CheckWrapperSpan(*images.main, steps); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = Place(*images.main, false, steps, &main); !s.ok()) {
    return s;
  }
  if (wrapper_) {
    steps.Note(
        "no secure world authenticates this codec: pild's verification "
        "(hash table, signature and chain) is the only one");
    return *main;
  }
  if (dtb_pas_) {
    if (images.dtb == nullptr) {
      return Error(absl::StatusCode::kFailedPrecondition, "FIRMWARE_NOT_FOUND",
                   absl::StrCat(node_.name, " loads a DTB image (PAS id ",
                                *dtb_pas_, ") and none was given"));
    }
    if (absl::Status s = Place(*images.dtb, true, steps, &dtb); !s.ok()) {
      return s;
    }
    if (absl::Status s = InitImage(*images.dtb, true, steps); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = InitImage(*images.main, false, steps); !s.ok()) {
    return s;
  }
  return *main;
}

absl::Status PasCoprocessor::MapRange(uint32_t domain, uint64_t iova,
                                      uint64_t pa, uint64_t size, uint32_t prot,
                                      const std::string& what, Steps& steps) {
  const devicetree::StreamId& stream = *node_.firmware_stream;
  return steps.Step("smmu_map", [&](std::string* d) {
    *d = absl::StrCat(what, ": iova ", Hex(iova), " -> ", Hex(pa), " +",
                      Hex(size), " ", platform::IommuPermissions(prot),
                      " on stream ", Hex(stream.sid));
    absl::Status st = hw_.iommu().Map(domain, iova, pa, size, prot);
    if (st.ok()) {
      Claim claim;
      claim.kind = Claim::Kind::kMapping;
      claim.domain = domain;
      claim.sid = stream.sid;
      claim.mask = stream.mask;
      claim.iova = iova;
      claim.address = pa;
      claim.size = size;
      claim.prot = prot;
      claims_.Add(claim, "smmu_unmap",
                  absl::StrCat("iova ", Hex(iova), " +", Hex(size)),
                  [this, domain, iova, size]() -> absl::Status {
                    auto unmapped = hw_.iommu().Unmap(domain, iova, size);
                    if (!unmapped.ok()) return unmapped.status();
                    if (*unmapped != size) {
                      return Error(
                          absl::StatusCode::kInternal, "UNMAP_INCOMPLETE",
                          absl::StrCat("unmapped ", Hex(*unmapped),
                                       " bytes, expected ", Hex(size)));
                    }
                    return absl::OkStatus();
                  });
    }
    return st;
  });
}

absl::Status PasCoprocessor::Map(Steps& steps) {
  if (node_.iommu_owner != devicetree::IommuOwner::kLinux) {
    steps.Note(
        os_owns_iommu_
            ? absl::StrCat(
                  "no hypervisor manages the IOMMU, but the device tree names "
                  "no firmware stream for ",
                  node_.name,
                  " (`iommus`, or an `iommu-map` entry for function 0): "
                  "nothing mapped, so its firmware fetches will fault")
            : "IOMMU managed by the hypervisor: nothing to map (it maps the "
              "firmware when the secure world releases reset)");
    return absl::OkStatus();
  }
  const devicetree::StreamId& stream = *node_.firmware_stream;
  uint32_t domain = 0;
  if (absl::Status s = steps.Step(
          "iommu_attach",
          [&](std::string* d) {
            auto attached = hw_.iommu().Attach(stream.sid, stream.mask);
            if (!attached.ok()) return attached.status();
            domain = *attached;
            Claim claim;
            claim.kind = Claim::Kind::kDomain;
            claim.domain = domain;
            claim.sid = stream.sid;
            claim.mask = stream.mask;
            claims_.Add(claim, "iommu_detach",
                        absl::StrCat("translation context ", domain),
                        [this, domain] { return hw_.iommu().Detach(domain); });
            *d = absl::StrCat("stream ", Hex(stream.sid), "/", Hex(stream.mask),
                              " -> translation context ", domain);
            return absl::OkStatus();
          });
      !s.ok()) {
    return s;
  }
  const devicetree::CarveoutRange& main = node_.carveouts[0];
  const FirmwareWindow window = FirmwareWindowFor(node_.kind, main.base);
  if (absl::Status s = MapRange(
          domain, window.iova, main.base, PageAlignUp(main.size), window.prot,
          window.privileged ? "firmware carveout at IOVA 0, privileged"
                            : "firmware carveout, identity",
          steps);
      !s.ok()) {
    return s;
  }
  const uint32_t rw = platform::kIommuRead | platform::kIommuWrite;
  if (wrapper_) return absl::OkStatus();  // no SCM call for device memory
  if (dtb_pas_) {
    const devicetree::CarveoutRange& dtb = node_.carveouts[1];
    if (absl::Status s =
            MapRange(domain, dtb.base, dtb.base, PageAlignUp(dtb.size), rw,
                     "DTB carveout, identity", steps);
        !s.ok()) {
      return s;
    }
  }
  return MapDeviceMemory(domain, steps);
}

absl::Status PasCoprocessor::MapDeviceMemory(uint32_t domain, Steps& steps) {
  const uint32_t rw = platform::kIommuRead | platform::kIommuWrite;
  std::vector<DevMem> devmem;
  if (absl::Status s = steps.Step(
          "pas_get_rsctable",
          [&](std::string* d) {
            auto table =
                hw_.secure_world().PasGetResourceTable(pas_id(false), "");
            if (!table.ok()) {
              if (ReasonOf(table.status()) == "SCM_CALL_UNAVAILABLE") {
                *d = "not available: no resource table";
                return absl::OkStatus();
              }
              return table.status();
            }
            auto parsed = ParseResourceTable(*table);
            if (!parsed.ok()) return parsed.status();
            devmem = std::move(*parsed);
            *d = absl::StrCat(devmem.size(), " device-memory entr",
                              devmem.size() == 1 ? "y" : "ies");
            return absl::OkStatus();
          });
      !s.ok()) {
    return s;
  }
  for (const DevMem& entry : devmem) {
    if (absl::Status s =
            MapRange(domain, entry.da, entry.pa, entry.length, rw,
                     absl::StrCat("device memory '", entry.name, "'"), steps);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PasCoprocessor::AuthAndReset(bool dtb, Steps& steps) {
  const uint32_t id = pas_id(dtb);
  const devicetree::CarveoutRange& c = node_.carveouts[dtb ? 1 : 0];
  std::optional<uint64_t> bridge;
  // Without a hypervisor the secure world reads the carveout through an
  // SHM bridge the OS registers, only while it authenticates.
  if (os_owns_iommu_) {
    if (absl::Status s = steps.Step(
            "shm_bridge_create",
            [&](std::string* d) {
              auto handle = hw_.secure_world().ShmBridgeCreate(c.base, c.size);
              if (!handle.ok()) return handle.status();
              bridge = *handle;
              Claim claim;
              claim.kind = Claim::Kind::kBridge;
              claim.handle = *handle;
              claim.address = c.base;
              claim.size = c.size;
              claims_.Add(claim, "shm_bridge_delete",
                          absl::StrCat("bridge ", Hex(*handle)),
                          [this, handle = *handle] {
                            return hw_.secure_world().ShmBridgeDelete(handle);
                          });
              *d = absl::StrCat(Hex(c.base), " +", Hex(c.size), " -> bridge ",
                                Hex(*handle));
              return absl::OkStatus();
            });
        !s.ok()) {
      return s;
    }
  }
  absl::Status status = steps.Step("pas_auth_and_reset", [&](std::string* d) {
    *d = absl::StrCat("PAS id ", id, dtb ? " (DTB image)" : "");
    absl::Status st = hw_.secure_world().PasAuthAndReset(id);
    if (st.ok()) {
      Claim claim;
      claim.kind = Claim::Kind::kRunning;
      claim.pas_id = id;
      claims_.Add(claim, "pas_shutdown",
                  absl::StrCat("PAS id ", id, dtb ? " (DTB)" : ""),
                  [this, id] { return hw_.secure_world().PasShutdown(id); });
    }
    return st;
  });
  if (bridge) {
    absl::Status deleted = claims_.Release(steps, [&](const Claim& c) {
      return c.kind == Claim::Kind::kBridge && c.handle == *bridge;
    });
    if (status.ok()) status = deleted;
  }
  return status;
}

absl::Status PasCoprocessor::WaitReady(absl::Duration timeout, Steps& steps) {
  return steps.Step("wait_ready", [&](std::string* d) {
    const absl::Time start = absl::Now();
    const absl::Time until = std::min(start + timeout, steps.deadline());
    while (true) {
      std::optional<platform::Event> event = steps.NextEvent(until);
      if (event) {
        if (event->kind == platform::Event::Kind::kReady) {
          *d = absl::StrCat("ready after ",
                            absl::FormatDuration(absl::Now() - start));
          return absl::OkStatus();
        }
        if (event->kind == platform::Event::Kind::kCrash) {
          return platform::CrashError(node_.name, *event);
        }
        continue;
      }
      if (absl::Status st = steps.Interrupted(); !st.ok()) return st;
      if (absl::Now() >= until) {
        return Error(
            absl::StatusCode::kDeadlineExceeded, "READY_TIMEOUT",
            absl::StrCat(node_.name, " did not raise 'ready' within ",
                         absl::FormatDuration(timeout),
                         "; PAS shutdown issued, mappings removed"),
            {{"coprocessor", node_.name},
             {"timeout_ms", absl::StrCat(absl::ToInt64Milliseconds(timeout))}});
      }
    }
  });
}

absl::Status PasCoprocessor::Reset(absl::Duration ready_timeout, Steps& steps) {
  if (wrapper_) {
    steps.DropEvents();
    if (absl::Status s = WrapperReset(steps); !s.ok()) return s;
    return WaitReady(ready_timeout, steps);
  }
  if (dtb_pas_) {
    if (absl::Status s = AuthAndReset(true, steps); !s.ok()) return s;
  }
  steps.DropEvents();
  if (absl::Status s = AuthAndReset(false, steps); !s.ok()) return s;
  if (absl::Status s = WaitReady(ready_timeout, steps); !s.ok()) return s;
  return claims_.Release(
      steps, [](const Claim& c) { return c.kind == Claim::Kind::kMetadata; });
}

absl::Status PasCoprocessor::Restart(const platform::BootImages& images,
                                     absl::Duration ready_timeout,
                                     Steps& steps) {
  Rollback(steps);
  if (auto a = Authenticate(images, steps); !a.ok()) return a.status();
  if (absl::Status s = Map(steps); !s.ok()) return s;
  return Reset(ready_timeout, steps);
}

}  // namespace pil::pas
