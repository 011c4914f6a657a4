// Writes to the one-slot outer maps (BPF_MAP_TYPE_ARRAY_OF_MAPS) that hold a scope's tries and
// caches, several at once.
#ifndef GATEKEEPER_KERNEL_SLOT_WRITES_H_
#define GATEKEEPER_KERNEL_SLOT_WRITES_H_

#include <span>
#include <vector>

namespace gatekeeper::kernel {

struct SlotWrite {
  int outer_fd = -1;
  int inner_fd = -1;  // -1: empty the slot (an already empty slot counts as done)
};

// Writes slot 0; the errno, or 0 when done.
int WriteSlot(const SlotWrite& write);

// Writes every slot 0 and returns each write's errno (0: done), in order. The kernel ends every
// map-in-map write with an RCU grace period, so that no program still uses the old inner map
// when the call returns: 10 to 20 ms each on the benchmark machine, for every family of every
// scope at start and at each reload. Written from one thread each, the writes share their waits.
std::vector<int> WriteSlotsTogether(std::span<const SlotWrite> writes);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_SLOT_WRITES_H_
