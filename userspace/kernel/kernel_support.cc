#include "kernel/kernel_support.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "kernel/mountinfo.h"

namespace gatekeeper::kernel {
namespace {

using common::UniqueFd;

int MapProbe(bpf_map_type type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
             uint32_t flags) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
  UniqueFd fd(bpf_map_create(type, "gk_probe", key_size, value_size, max_entries, &opts));
  return fd ? 0 : errno;
}

std::string Errno(int err) { return absl::StrCat(std::strerror(err), " (errno ", err, ")"); }

}  // namespace

std::optional<std::string> LiveKernelProbe::Cgroup2Mount() {
  auto mount = ReadCgroup2Mount();
  if (!mount.ok()) return std::nullopt;
  return *mount;
}

int LiveKernelProbe::Bpf() { return MapProbe(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0); }

int LiveKernelProbe::CgroupSkbProgram() {
  const struct bpf_insn insns[] = {
      // r0 = 1 (pass); exit
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 1},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  UniqueFd fd(bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "gk_probe", "GPL", insns, 2, nullptr));
  return fd ? 0 : errno;
}

int LiveKernelProbe::LpmTrieMap() {
  return MapProbe(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 1, BPF_F_NO_PREALLOC);
}

int LiveKernelProbe::MapInMap() {
  UniqueFd inner(bpf_map_create(BPF_MAP_TYPE_ARRAY, "gk_probe_in", 4, 4, 1, nullptr));
  if (!inner) return errno;
  LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(inner.get()));
  UniqueFd outer(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "gk_probe_out", 4, 4, 1, &opts));
  return outer ? 0 : errno;
}

int LiveKernelProbe::RingBufMap() { return MapProbe(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0); }

int LiveKernelProbe::CgroupBpf(const std::string& cgroup2_mount) {
  UniqueFd fd(::open(cgroup2_mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errno;
  __u32 count = 0;
  if (bpf_prog_query(fd.get(), BPF_CGROUP_INET_INGRESS, 0, nullptr, nullptr, &count) != 0) {
    return errno;
  }
  return 0;
}

absl::Status CheckKernelSupport(KernelProbe& probe) {
  const std::optional<std::string> cgroup2 = probe.Cgroup2Mount();
  if (!cgroup2) {
    return absl::FailedPreconditionError(
        "no cgroup v2 file system is mounted; gatekeeper attaches its filters to cgroup v2: "
        "mount it (`mount -t cgroup2 none /sys/fs/cgroup/unified`) or boot with "
        "systemd.unified_cgroup_hierarchy=1");
  }
  if (int err = probe.Bpf(); err != 0) {
    if (err == EPERM || err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the kernel refused bpf(): ", Errno(err),
          "; run gatekeeper as root (it needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN), and "
          "check kernel.unprivileged_bpf_disabled and any seccomp filter (systemd-nspawn needs "
          "--system-call-filter=bpf)"));
    }
    return absl::UnimplementedError(
        absl::StrCat("this kernel has no usable bpf() system call: ", Errno(err),
                     "; gatekeeper needs a kernel built with CONFIG_BPF_SYSCALL=y"));
  }
  if (int err = probe.CgroupSkbProgram(); err != 0) {
    return absl::UnimplementedError(
        absl::StrCat("this kernel cannot load cgroup_skb BPF programs: ", Errno(err),
                     "; gatekeeper needs CONFIG_CGROUP_BPF=y"));
  }
  struct MapFeature {
    const char* what;
    int (KernelProbe::*probe)();
    const char* needs;
  };
  for (const MapFeature& f : {
           MapFeature{"LPM trie maps", &KernelProbe::LpmTrieMap, "Linux 4.11"},
           MapFeature{"array-of-maps", &KernelProbe::MapInMap, "Linux 4.12"},
           MapFeature{"BPF ring buffers", &KernelProbe::RingBufMap, "Linux 5.8"},
       }) {
    if (int err = (probe.*f.probe)(); err != 0) {
      return absl::UnimplementedError(absl::StrCat("this kernel cannot create ", f.what, ": ",
                                                   Errno(err), "; gatekeeper needs ", f.needs,
                                                   " or newer"));
    }
  }
  if (int err = probe.CgroupBpf(*cgroup2); err != 0) {
    if (err == EPERM || err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat("querying BPF programs on cgroup ", *cgroup2,
                                                      " was refused: ", Errno(err),
                                                      "; run gatekeeper as root"));
    }
    return absl::UnimplementedError(
        absl::StrCat("this kernel cannot attach BPF programs to cgroup ", *cgroup2, ": ",
                     Errno(err), "; gatekeeper needs CONFIG_CGROUP_BPF=y"));
  }
  return absl::OkStatus();
}

}  // namespace gatekeeper::kernel
