/* The contract between gate.bpf.c and userspace/kernel: map layouts, values and events.
 * Plain C with fixed-size types so both clang -target bpf and the C++ side include it. */
#ifndef GATEKEEPER_BPF_GATE_ABI_H_
#define GATEKEEPER_BPF_GATE_ABI_H_

#include <linux/types.h>

/* Bumped whenever anything below changes layout: pins live under v<N>/ in bpffs. */
#define GK_ABI_VERSION 4

/* Upper bound of prefixes per scope and family. LPM tries allocate per entry, so the bound costs
 * nothing until used; a policy above it is refused with an error naming the scope. */
#define GK_MAX_PREFIXES (1u << 22)

#define GK_RINGBUF_BYTES (256u * 1024u)

/* Allowed peers remembered per scope and family until the next policy swap. A hash allocates its
 * entries as they come (BPF_F_NO_PREALLOC) but its buckets at once, 16 bytes per entry it may
 * hold: about 257 KiB for each family with a deep trie. Past the bound, new peers are judged by the
 * trie alone (correct, only slower). */
#define GK_ALLOW_CACHE_ENTRIES 16384u

enum gk_verdict {
  GK_VERDICT_ALLOW = 1,
  GK_VERDICT_DENY = 2,
};

enum gk_direction {
  GK_DIR_INGRESS = 0,
  GK_DIR_EGRESS = 1,
};

/* Rule ids the kernel reports that are not entries of the policy. */
#define GK_RULE_NONE 0u               /* no entry matched: allowed */
#define GK_RULE_NO_POLICY 0xffffffffu /* no trie installed: fail closed */
#define GK_RULE_DEVICE 0xfffffffeu    /* arrived on another device than the gate's */

struct gk_lpm_v4_key {
  __u32 prefixlen;
  __u8 addr[4];
};

struct gk_lpm_v6_key {
  __u32 prefixlen;
  __u8 addr[16];
};

/* Every trie holds a /0 entry (GK_RULE_NONE, allow) unless the policy has its own, so a lookup
 * always finds a value and with it the generation of the policy that decided. */
struct gk_rule_value {
  __u32 rule_id;
  __u32 verdict;    /* enum gk_verdict */
  __u64 generation; /* of the policy this trie belongs to; see gk_config.policy_generation */
};

struct gk_counter {
  __u64 packets;
  __u64 bytes;
};

/* Per-CPU; userspace sums the CPUs. */
struct gk_stats {
  struct gk_counter allowed[2]; /* by enum gk_direction */
  struct gk_counter denied[2];
  /* Host scope only: packets of gate sockets, seen but left to the gate's program. */
  struct gk_counter delegated[2];
  __u64 events_sent;
  __u64 events_suppressed; /* by the in-kernel rate limit */
  __u64 events_lost;       /* ring buffer full */
  /* Egress: bare TCP resets to denied peers, let out so their connections end at once. */
  struct gk_counter rst_passed;
};

#define GK_CFG_HOST (1u << 0)        /* skip (count only) sockets under the gates cgroup */
#define GK_CFG_BIND_DEVICE (1u << 1) /* ingress only from bound_ifindex */
/* Remember allowed peers in a hash. Worth it only when the trie is deep: a hash lookup costs more
 * than a walk through a small trie. */
#define GK_CFG_ALLOW_CACHE (1u << 2)

struct gk_config {
  __u32 scope_id;
  __u32 flags;
  __u64 gates_cgroup_id;    /* GK_CFG_HOST: cgroup id of <base>/gates, 0 = none */
  __u32 gates_cgroup_level; /* its depth below the cgroup v2 root (root = 0) */
  __u32 bound_ifindex;      /* GK_CFG_BIND_DEVICE: 0 = device away, nothing gets in */
  __u64 event_interval_ns;  /* rate limit: at most event_burst events per interval */
  __u32 event_burst;
  __u32 pad;
  /* The generation carried by the values of the tries in place. Userspace writes it after both
   * slots hold the new tries, and never issues a number twice (CLOCK_BOOTTIME, strictly
   * increasing): a cached verdict of an older policy can then never pass for a current one. */
  __u64 policy_generation;
};

struct gk_ratelimit {
  __u64 window_start_ns;
  __u64 count;
};

#define GK_EVENT_HAS_PORTS (1u << 0)

struct gk_event {
  __u64 timestamp_ns; /* CLOCK_MONOTONIC */
  __u32 scope_id;
  __u32 rule_id;
  __u32 ifindex;
  __u32 length;
  __u8 direction;    /* enum gk_direction */
  __u8 family;       /* 4 or 6 */
  __u8 protocol;     /* IPPROTO_* of the transport header found, 0 if none */
  __u8 flags;        /* GK_EVENT_* */
  __u16 local_port;  /* host byte order */
  __u16 remote_port; /* host byte order */
  __u8 local_addr[16];
  __u8 remote_addr[16];
};

#endif /* GATEKEEPER_BPF_GATE_ABI_H_ */
