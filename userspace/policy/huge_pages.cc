#include "policy/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

namespace gatekeeper::policy {
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
// Below this, the few 4 KiB faults cost less than the system call, and a buffer this small may
// sit in the heap among other allocations rather than in its own mapping.
constexpr size_t kMinBytes = size_t{8} << 20;

}  // namespace

void AdviseHugePages(const void* data, size_t bytes) {
  if (data == nullptr || bytes < kMinBytes) return;
  const auto start = reinterpret_cast<uintptr_t>(data);
  // Only whole, aligned huge pages inside the buffer can become huge pages; advising just those
  // leaves the neighbours of the buffer alone.
  const uintptr_t begin = (start + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (start + bytes) & ~(kHugePage - 1);
  if (end <= begin) return;
  // A hint: failure (no THP in this kernel) only means 4 KiB pages, as without it.
  // NOLINTNEXTLINE(performance-no-int-to-ptr): the aligned address is computed as an integer.
  (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace gatekeeper::policy
