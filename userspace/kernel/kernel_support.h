// Checks that the kernel can enforce gatekeeper's filters before anything is attached. A missing
// feature is an error naming what is missing and how to fix it, never a silent fail-open.
#ifndef GATEKEEPER_KERNEL_KERNEL_SUPPORT_H_
#define GATEKEEPER_KERNEL_KERNEL_SUPPORT_H_

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace gatekeeper::kernel {

// Raw probes. Each returns 0 when supported or the errno the kernel answered with; faked in tests.
class KernelProbe {
 public:
  virtual ~KernelProbe() = default;
  virtual std::optional<std::string> Cgroup2Mount() = 0;
  // bpf(BPF_MAP_CREATE) of a tiny array map.
  virtual int Bpf() = 0;
  // Loading a trivial BPF_PROG_TYPE_CGROUP_SKB program.
  virtual int CgroupSkbProgram() = 0;
  // Creating the map types the engine uses.
  virtual int LpmTrieMap() = 0;
  virtual int MapInMap() = 0;
  virtual int RingBufMap() = 0;
  // BPF_PROG_QUERY on the cgroup v2 root (fails when the kernel lacks CONFIG_CGROUP_BPF).
  virtual int CgroupBpf(const std::string& cgroup2_mount) = 0;
};

// Probes the running kernel.
class LiveKernelProbe : public KernelProbe {
 public:
  std::optional<std::string> Cgroup2Mount() override;
  int Bpf() override;
  int CgroupSkbProgram() override;
  int LpmTrieMap() override;
  int MapInMap() override;
  int RingBufMap() override;
  int CgroupBpf(const std::string& cgroup2_mount) override;
};

// Runs the probes in dependency order and turns the first failure into a clear status.
absl::Status CheckKernelSupport(KernelProbe& probe);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_KERNEL_SUPPORT_H_
