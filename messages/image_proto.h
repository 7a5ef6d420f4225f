// Image inspection results in the API's terms.
#ifndef PILD_MESSAGES_IMAGE_PROTO_H_
#define PILD_MESSAGES_IMAGE_PROTO_H_

#include "platform/image/inspect.h"
#include "proto/pil/v1/lifecycle.pb.h"

namespace pil::messages {

v1::ImageReport ImageReportToProto(const image::ImageReport& report);

}  // namespace pil::messages

#endif  // PILD_MESSAGES_IMAGE_PROTO_H_
