// What pild keeps for clients (coredumps, uploaded images) as tables for
// people and JSON for scripts; JSON keys are the pil.v1 field names.
#ifndef PILD_CLIENT_STORE_FORMAT_H_
#define PILD_CLIENT_STORE_FORMAT_H_

#include <string>
#include <vector>

#include "client/json.h"
#include "proto/pil/v1/lifecycle.pb.h"

namespace pil::client {

// Writes the CoredumpInfo keys (name, crash_id, reason, time, size,
// sha256) into the object `json` has open.
void WriteCoredumpInfoKeys(const v1::CoredumpInfo& info, JsonWriter& json);

// Columns: NAME, CRASH, TIME, REASON, SIZE, SHA256; "no coredumps" when
// the list is empty.
std::string CoredumpsTable(const std::vector<v1::CoredumpInfo>& coredumps);

// A JSON list of CoredumpInfo objects.
std::string CoredumpsJson(const std::vector<v1::CoredumpInfo>& coredumps);

// Columns: SHA256, SIZE, TIME, NAME; "no uploads" when the list is empty.
std::string UploadsTable(const std::vector<v1::Upload>& uploads);

// A JSON list of Upload objects: sha256, size, name, time.
std::string UploadsJson(const std::vector<v1::Upload>& uploads);

}  // namespace pil::client

#endif  // PILD_CLIENT_STORE_FORMAT_H_
