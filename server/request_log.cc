#include "server/request_log.h"

namespace pil::server {

std::shared_ptr<RequestLog::Record> RequestLog::Find(
    const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : *it->second;
}

std::shared_ptr<RequestLog::Record> RequestLog::Begin(
    const std::string& id, const std::string& request) {
  auto record = std::make_shared<Record>();
  record->id = id;
  record->request = request;
  Forget(Find(id));
  by_id_[id] = records_.insert(records_.end(), record);
  if (records_.size() > kCapacity) Forget(records_.front());
  return record;
}

void RequestLog::Forget(const std::shared_ptr<Record>& record) {
  if (record == nullptr) return;
  auto it = by_id_.find(record->id);
  if (it == by_id_.end() || *it->second != record) return;
  records_.erase(it->second);
  by_id_.erase(it);
}

}  // namespace pil::server
