// Service output into the daemon's log: the service writes to a pipe (its stdout and stderr),
// the daemon reads the other end on its event loop and logs every line as "<gate>: <line>".
#ifndef GATEKEEPER_ACTIVATION_OUTPUT_FORWARDER_H_
#define GATEKEEPER_ACTIVATION_OUTPUT_FORWARDER_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/unique_fd.h"

namespace gatekeeper::activation {

class OutputForwarder {
 public:
  using Sink = std::function<void(absl::string_view line)>;

  // A line longer than this is passed on in pieces of this size (journald does the same at
  // LineMax=), so a service printing without newlines cannot make the daemon buffer without end.
  static constexpr size_t kMaxLine = 4096;
  // Bytes read per OnReadable() call, so one chatty service cannot starve the loop; a
  // level-triggered loop (sd-event's default) calls again while more is waiting.
  static constexpr size_t kMaxReadPerCall = size_t{64} * 1024;

  // Makes the pipe. The returned write end (close-on-exec, blocking) is for
  // SpawnRequest::stdout_fd / stderr_fd; the daemon may keep it for later restarts, or close it
  // after Spawn() so that OnReadable() reports the end once the service and its children are gone.
  static absl::StatusOr<std::pair<OutputForwarder, common::UniqueFd>> Create(std::string gate,
                                                                             Sink sink);
  // Reads from an existing non-blocking read end.
  OutputForwarder(std::string gate, common::UniqueFd read_end, Sink sink);
  OutputForwarder(OutputForwarder&&) = default;
  OutputForwarder& operator=(OutputForwarder&&) = default;

  // The read end: watch it for input on the event loop, and call OnReadable() for EPOLLHUP too
  // (a drained pipe whose writers are gone reports only that).
  int fd() const { return read_end_.get(); }

  // Reads what is available without blocking and passes every complete line to the sink as
  // "<gate>: <line>" (without the newline; a trailing '\r' is dropped too). Returns false at end of
  // file, after passing on an unterminated last line; the caller then removes the source.
  absl::StatusOr<bool> OnReadable();

 private:
  void Emit(absl::string_view line);

  std::string gate_;
  common::UniqueFd read_end_;
  Sink sink_;
  std::string partial_;  // bytes after the last newline, at most kMaxLine
};

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_OUTPUT_FORWARDER_H_
