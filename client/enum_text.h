// pil.v1 enum values as pilctl prints them.
#ifndef PILD_CLIENT_ENUM_TEXT_H_
#define PILD_CLIENT_ENUM_TEXT_H_

#include <string>

#include "google/protobuf/generated_enum_reflection.h"

namespace pil::client {

// An enum value as pilctl prints it: its name without the prefix its enum
// gives every value, in lower case (OPERATION_START: "start",
// MAPPING_OWNER_OS: "os"); the number for a value this pilctl does not know.
std::string EnumText(const google::protobuf::EnumDescriptor* type, int value);
template <typename Enum>
std::string EnumText(Enum value) {
  return EnumText(google::protobuf::GetEnumDescriptor<Enum>(),
                  static_cast<int>(value));
}

}  // namespace pil::client

#endif  // PILD_CLIENT_ENUM_TEXT_H_
