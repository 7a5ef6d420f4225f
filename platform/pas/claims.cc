#include "platform/pas/claims.h"

#include <algorithm>

namespace pil::pas {

void Claims::Add(const Claim& claim, std::string undo_step, std::string detail,
                 Undo undo) {
  absl::MutexLock lock(&mu_);
  entries_.push_back({next_id_++, claim, std::move(undo_step),
                      std::move(detail), std::move(undo)});
}

absl::Status Claims::Release(platform::Steps& steps, const Filter& filter) {
  std::vector<Entry> selected;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
      if (filter(it->claim)) selected.push_back(*it);
    }
  }
  absl::Status first;
  // Translation contexts with a mapping that could not be removed: they
  // stay (and are tried again with it), so that the mapping's claim keeps
  // naming a context that exists.
  std::vector<uint32_t> kept_domains;
  for (const Entry& entry : selected) {
    if (entry.claim.kind == Claim::Kind::kDomain &&
        std::find(kept_domains.begin(), kept_domains.end(),
                  entry.claim.domain) != kept_domains.end()) {
      continue;
    }
    absl::Status status = steps.Step(
        entry.step,
        [&](std::string* detail) {
          *detail = entry.detail;
          return entry.undo();
        },
        /*even_if_interrupted=*/true);
    if (!status.ok()) {
      if (first.ok()) first = status;
      // A core still out of reset keeps fetching through its mappings and
      // bridges: what was acquired before it stays.
      if (entry.claim.kind == Claim::Kind::kRunning) break;
      if (entry.claim.kind == Claim::Kind::kMapping) {
        kept_domains.push_back(entry.claim.domain);
      }
      continue;
    }
    absl::MutexLock lock(&mu_);
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.id == entry.id; });
    if (it != entries_.end()) entries_.erase(it);
  }
  return first;
}

void Claims::Rollback(platform::Steps& steps) {
  (void)Release(steps, [](const Claim&) { return true; });
}

bool Claims::Holds(const Filter& filter) const {
  absl::MutexLock lock(&mu_);
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return filter(e.claim); });
}

bool Claims::empty() const {
  absl::MutexLock lock(&mu_);
  return entries_.empty();
}

platform::HardwareView Claims::View() const {
  absl::MutexLock lock(&mu_);
  platform::HardwareView view;
  for (const Entry& e : entries_) {
    const Claim& c = e.claim;
    switch (c.kind) {
      case Claim::Kind::kMetadata:
        view.metadata_held = true;
        break;
      case Claim::Kind::kBridge:
        view.bridges.push_back({c.handle, c.address, c.size});
        break;
      case Claim::Kind::kMapping: {
        platform::HardwareView::Mapping m;
        m.domain = c.domain;
        m.sid = c.sid;
        m.mask = c.mask;
        m.iova = c.iova;
        m.pa = c.address;
        m.size = c.size;
        m.prot = c.prot;
        m.owner = platform::MappingOwner::kOs;
        view.mappings.push_back(m);
        break;
      }
      case Claim::Kind::kRunning:
      case Claim::Kind::kDomain:
        break;
    }
  }
  return view;
}

}  // namespace pil::pas
