// RAII owner of the generated gate skeleton: destroy runs however a load fails half-way.
#ifndef GATEKEEPER_KERNEL_GATE_SKELETON_H_
#define GATEKEEPER_KERNEL_GATE_SKELETON_H_

#include <memory>

#include "gate.skel.h"

namespace gatekeeper::kernel {

struct GateSkeletonDeleter {
  void operator()(gate* skel) const { gate__destroy(skel); }
};
using GateSkeleton = std::unique_ptr<gate, GateSkeletonDeleter>;

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_GATE_SKELETON_H_
