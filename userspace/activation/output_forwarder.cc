#include "activation/output_forwarder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::activation {

absl::StatusOr<std::pair<OutputForwarder, common::UniqueFd>> OutputForwarder::Create(
    std::string gate, Sink sink) {
  int fds[2];
  // Only the daemon's end is non-blocking: the service's writes should block on a full pipe,
  // not fail with EAGAIN.
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return common::ErrnoStatus(errno, absl::StrCat("pipe for the output of ", gate));
  }
  common::UniqueFd read_end(fds[0]);
  common::UniqueFd write_end(fds[1]);
  const int flags = ::fcntl(read_end.get(), F_GETFL);
  if (flags < 0 || ::fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return common::ErrnoStatus(errno,
                               absl::StrCat("make the output pipe of ", gate, " non-blocking"));
  }
  return std::make_pair(OutputForwarder(std::move(gate), std::move(read_end), std::move(sink)),
                        std::move(write_end));
}

OutputForwarder::OutputForwarder(std::string gate, common::UniqueFd read_end, Sink sink)
    : gate_(std::move(gate)), read_end_(std::move(read_end)), sink_(std::move(sink)) {}

void OutputForwarder::Emit(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  sink_(absl::StrCat(gate_, ": ", line));
}

absl::StatusOr<bool> OutputForwarder::OnReadable() {
  char buffer[8192];
  size_t total = 0;
  while (total < kMaxReadPerCall) {
    const ssize_t n = ::read(read_end_.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      return common::ErrnoStatus(errno, absl::StrCat("read the output of ", gate_));
    }
    if (n == 0) {
      if (!partial_.empty()) Emit(partial_);
      partial_.clear();
      return false;
    }
    total += static_cast<size_t>(n);
    absl::string_view data(buffer, static_cast<size_t>(n));
    while (!data.empty()) {
      const size_t newline = data.find('\n');
      const size_t take = newline == absl::string_view::npos ? data.size() : newline;
      const size_t room = kMaxLine - partial_.size();
      if (take > room) {
        // The line is longer than kMaxLine: pass on a full piece and go on with the rest.
        partial_.append(data.data(), room);
        Emit(partial_);
        partial_.clear();
        data.remove_prefix(room);
        continue;
      }
      partial_.append(data.data(), take);
      if (newline == absl::string_view::npos) break;
      Emit(partial_);
      partial_.clear();
      data.remove_prefix(take + 1);
    }
  }
  return true;
}

}  // namespace gatekeeper::activation
