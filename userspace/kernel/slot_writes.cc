#include "kernel/slot_writes.h"

#include <bpf/bpf.h>
#include <linux/types.h>

#include <cerrno>
#include <system_error>
#include <thread>

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
  if (writes.empty()) return result;
  {
    std::vector<std::jthread> others;
    others.reserve(writes.size() - 1);
    for (size_t i = 1; i < writes.size(); ++i) {
      try {
        others.emplace_back([&result, &writes, i] { result[i] = WriteSlot(writes[i]); });
      } catch (const std::system_error&) {
        result[i] = WriteSlot(writes[i]);  // no thread to be had: one wait more, nothing lost
      }
    }
    result[0] = WriteSlot(writes[0]);
  }  // joins
  return result;
}

}  // namespace gatekeeper::kernel
