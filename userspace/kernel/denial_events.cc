#include "kernel/denial_events.h"

#include <cerrno>
#include <cstring>

#include "common/errno_status.h"
#include "gate_abi.h"

namespace gatekeeper::kernel {
namespace {

policy::Address ToAddress(uint8_t family, const uint8_t (&bytes)[16]) {
  policy::Address a;
  a.family = family == 4 ? policy::Family::kIPv4 : policy::Family::kIPv6;
  std::memcpy(a.bytes.data(), bytes, family == 4 ? 4 : 16);
  return a;
}

int OnSample(void* ctx, void* data, size_t size) {
  if (size < sizeof(gk_event)) return 0;  // cannot happen with a matching ABI; skip, keep going
  gk_event raw;
  std::memcpy(&raw, data, sizeof(raw));
  DenialEvent ev;
  ev.timestamp_ns = raw.timestamp_ns;
  ev.scope_id = raw.scope_id;
  ev.rule_id = raw.rule_id;
  ev.ifindex = raw.ifindex;
  ev.length = raw.length;
  ev.direction = raw.direction == GK_DIR_EGRESS ? Direction::kEgress : Direction::kIngress;
  ev.protocol = raw.protocol;
  ev.has_ports = (raw.flags & GK_EVENT_HAS_PORTS) != 0;
  ev.local_port = raw.local_port;
  ev.remote_port = raw.remote_port;
  ev.local = ToAddress(raw.family, raw.local_addr);
  ev.remote = ToAddress(raw.family, raw.remote_addr);
  (*static_cast<DenialEventReader::Callback*>(ctx))(ev);
  return 0;
}

}  // namespace

absl::StatusOr<DenialEventReader> DenialEventReader::Create(int ring_buffer_fd, Callback callback) {
  DenialEventReader reader;
  reader.callback_ = std::make_unique<Callback>(std::move(callback));
  reader.ring_.reset(ring_buffer__new(ring_buffer_fd, OnSample, reader.callback_.get(), nullptr));
  if (!reader.ring_) return common::ErrnoStatus(errno, "open the denial-event ring buffer");
  return reader;
}

int DenialEventReader::epoll_fd() const { return ring_buffer__epoll_fd(ring_.get()); }

absl::StatusOr<int> DenialEventReader::Drain() {
  const int n = ring_buffer__consume(ring_.get());
  if (n < 0) return common::ErrnoStatus(-n, "read denial events");
  return n;
}

}  // namespace gatekeeper::kernel
