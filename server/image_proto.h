// Image inspection results in the API's terms.
#ifndef PILD_SERVER_IMAGE_PROTO_H_
#define PILD_SERVER_IMAGE_PROTO_H_

#include "platform/image/inspect.h"
#include "proto/pil/v1/lifecycle.pb.h"

namespace pil::server {

v1::ImageReport ImageReportToProto(const image::ImageReport& report);

}  // namespace pil::server

#endif  // PILD_SERVER_IMAGE_PROTO_H_
