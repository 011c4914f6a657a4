// Reads the denial events the scopes' programs put into the shared ring buffer.
#ifndef GATEKEEPER_KERNEL_DENIAL_EVENTS_H_
#define GATEKEEPER_KERNEL_DENIAL_EVENTS_H_

#include <bpf/libbpf.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "kernel/scope.h"
#include "policy/address.h"

namespace gatekeeper::kernel {

struct DenialEvent {
  uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC
  uint32_t scope_id = 0;
  uint32_t rule_id = 0;  // policy rule id, or GK_RULE_* for the special causes
  uint32_t ifindex = 0;
  uint32_t length = 0;
  Direction direction = Direction::kIngress;
  uint8_t protocol = 0;
  bool has_ports = false;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  policy::Address local;
  policy::Address remote;
};

class DenialEventReader {
 public:
  using Callback = std::function<void(const DenialEvent&)>;

  static absl::StatusOr<DenialEventReader> Create(int ring_buffer_fd, Callback callback);

  // Becomes readable when events wait; for the daemon's event loop.
  int epoll_fd() const;
  // Hands every waiting event to the callback without blocking; returns how many.
  absl::StatusOr<int> Drain();

 private:
  struct RingBufferDeleter {
    void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
  };
  DenialEventReader() = default;

  // Heap-held so the address libbpf keeps as its context survives moves of the reader.
  std::unique_ptr<Callback> callback_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_;
};

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_DENIAL_EVENTS_H_
