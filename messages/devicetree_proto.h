// Device-tree facts in the API's terms.
#ifndef PILD_MESSAGES_DEVICETREE_PROTO_H_
#define PILD_MESSAGES_DEVICETREE_PROTO_H_

#include "platform/devicetree/coprocessor_node.h"
#include "proto/pil/v1/lifecycle.pb.h"

namespace pil::messages {

// The device-tree fields of a Coprocessor message (name, node path,
// compatibles, PAS ids, firmware names, carveouts, stream IDs, IOMMU owner,
// status, problems). Live fields (state, image, errors) are left unset.
v1::Coprocessor CoprocessorFromNode(const devicetree::CoprocessorNode& node);

}  // namespace pil::messages

#endif  // PILD_MESSAGES_DEVICETREE_PROTO_H_
