// Transparent huge pages for the large buffers the policy code fills right after allocating them
// (internal to gk_policy).
#ifndef GATEKEEPER_POLICY_HUGE_PAGES_H_
#define GATEKEEPER_POLICY_HUGE_PAGES_H_

#include <cstddef>
#include <vector>

namespace gatekeeper::policy {

// Asks for huge pages for the part of [data, data + bytes) that is not yet touched, when it is
// large (several MiB). A policy of a million prefixes writes some 100 MB of fresh memory; in 4
// KiB pages that is 25,000 page faults, which on a virtual machine take longer than the writing
// (about 20 us each measured, against well under 1 us for its share of a 2 MiB page). Only a
// hint: without THP ("never") nothing changes, and with THP "always" it is what happens anyway.
void AdviseHugePages(const void* data, size_t bytes);

// For a vector's whole capacity: call it right after reserve(), before the elements are written.
template <typename T>
void AdviseHugePages(const std::vector<T>& v) {
  AdviseHugePages(v.data(), v.capacity() * sizeof(T));
}

// `to` = `from`, where memory `to` needs anew is advised as above before the copy fills it. For
// the copies of large vectors: an address list changed while shared, a compiled policy copied.
template <typename T>
void CopyWithHugePages(std::vector<T>& to, const std::vector<T>& from) {
  if (&to == &from) return;
  if (to.capacity() < from.size()) {
    std::vector<T>().swap(to);  // the old elements are not kept anyway
    to.reserve(from.size());
    AdviseHugePages(to);
  }
  to = from;  // fits: no new allocation
}

}  // namespace gatekeeper::policy

#endif  // GATEKEEPER_POLICY_HUGE_PAGES_H_
