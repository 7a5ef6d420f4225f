#include "server/metrics/collect.h"

namespace pil::server::metrics {

Snapshot Collect(const Sources& sources) {
  Snapshot s;
  s.version = sources.version;
  s.backend = sources.backend;
  s.board = sources.board;
  for (const CoprocessorStatus& status : sources.engine->List()) {
    CoprocessorSample& c = s.coprocessors.emplace_back();
    c.name = status.node->name;
    c.state = status.state;
    c.state_since = status.state_since;
    c.crashes = status.crash_count;
    if (status.last_error) {
      c.last_error = CoprocessorSample::Error{status.last_error->reason,
                                              status.last_error->operation,
                                              status.last_error->time};
    }
    if (status.image) {
      c.image = CoprocessorSample::Image{
          status.image->sha256, status.image->version, status.image->source};
    }
  }
  sources.registry->Fill(&s);
  s.audit_write_failures = sources.history->write_failures();
  s.audit_dropped = sources.history->dropped();
  s.denied_calls = sources.gate->denials();
  if (sources.listener != nullptr) {
    s.connections = Snapshot::Connections{sources.listener->open(),
                                          sources.listener->admitted(),
                                          sources.listener->refused()};
  }
  if (sources.watch_streams) s.watch_streams = sources.watch_streams();
  return s;
}

}  // namespace pil::server::metrics
