#include "server/request_log.h"

namespace pil::server {

std::shared_ptr<RequestLog::Record> RequestLog::Find(
    const std::string& id) const {
  for (const auto& record : records_) {
    if (record->id == id) return record;
  }
  return nullptr;
}

std::shared_ptr<RequestLog::Record> RequestLog::Begin(
    const std::string& id, const std::string& operation,
    const std::string& name) {
  auto record = std::make_shared<Record>();
  record->id = id;
  record->operation = operation;
  record->name = name;
  records_.push_back(record);
  if (records_.size() > kCapacity) records_.pop_front();
  return record;
}

}  // namespace pil::server
