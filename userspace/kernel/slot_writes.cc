#include "kernel/slot_writes.h"

#include <bpf/bpf.h>
#include <linux/types.h>

#include <cerrno>

#include "common/run_at_once.h"

namespace gatekeeper::kernel {

int WriteSlot(const SlotWrite& w) {
  const __u32 zero = 0;
  if (w.inner_fd < 0) {
    return bpf_map_delete_elem(w.outer_fd, &zero) == 0 || errno == ENOENT ? 0 : errno;
  }
  const int fd = w.inner_fd;
  return bpf_map_update_elem(w.outer_fd, &zero, &fd, BPF_ANY) == 0 ? 0 : errno;
}

std::vector<int> WriteSlotsTogether(std::span<const SlotWrite> writes) {
  std::vector<int> result(writes.size(), 0);
  common::RunAtOnce(writes.size(), writes.size(),
                    [&](size_t i) { result[i] = WriteSlot(writes[i]); });
  return result;
}

}  // namespace gatekeeper::kernel
