// SPDX-License-Identifier: GPL-2.0
/* cgroup_skb programs of one gatekeeper scope (the host, or one gate's socket or service cgroup).
 *
 * One longest-prefix lookup decides: userspace drops every deny prefix that an allow prefix
 * covers, so the longest match is systemd's verdict (allow if any allow matches, else deny if any
 * deny matches, else allow). The tries sit behind one-slot outer maps so that a new policy
 * replaces the old one with a single slot update: a packet sees one policy or the other.
 *
 * Where the trie is deep, the peers it allowed are remembered in a hash, by address, together
 * with the generation of the policy that allowed them: a peer's later packets, on any socket of
 * the scope, skip the walk until the policy changes. At a million prefixes the walk costs more
 * than the rest of the program. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
/* After linux/bpf.h, which defines the types they use. */
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "gate_abi.h"

char LICENSE[] SEC("license") = "GPL";

struct policy_v4_trie {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, GK_MAX_PREFIXES);
  /* Sizes, not types: libbpf 1.1 cannot size struct types inside an inner-map definition. */
  __uint(key_size, sizeof(struct gk_lpm_v4_key));
  __uint(value_size, sizeof(struct gk_rule_value));
};

struct policy_v6_trie {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, GK_MAX_PREFIXES);
  __uint(key_size, sizeof(struct gk_lpm_v6_key));
  __uint(value_size, sizeof(struct gk_rule_value));
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 1);
  __type(key, __u32);
  __array(values, struct policy_v4_trie);
} policy_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 1);
  __type(key, __u32);
  __array(values, struct policy_v6_trie);
} policy_v6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct gk_config);
} config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct gk_stats);
} stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct gk_ratelimit);
} ratelimit SEC(".maps");

/* Allow caches: address -> generation of the policy that allowed it. Userspace swaps in empty
 * ones with every new policy, which is also what evicts departed peers. Entries are never deleted
 * while in use and a value is one aligned 64-bit word written in place, so a reader needs no lock:
 * it sees the old generation or the new one, never a mix (deleting or replacing an element could
 * hand its memory to another key under a reader's feet). Denials are not cached: they are rare,
 * and caching them would let spoofed sources fill the cache. */
struct allow_cache_v4_hash {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, GK_ALLOW_CACHE_ENTRIES);
  __uint(key_size, 4);
  __uint(value_size, sizeof(__u64));
};

struct allow_cache_v6_hash {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, GK_ALLOW_CACHE_ENTRIES);
  __uint(key_size, 16);
  __uint(value_size, sizeof(__u64));
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 1);
  __type(key, __u32);
  __array(values, struct allow_cache_v4_hash);
} allow_cache_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 1);
  __type(key, __u32);
  __array(values, struct allow_cache_v6_hash);
} allow_cache_v6 SEC(".maps");

/* Shared by every scope: userspace creates it once and hands the same fd to each load. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, GK_RINGBUF_BYTES);
} events SEC(".maps");

#define IPV6_EXT_MAX 6
#define SOCK_RAW 3 /* enum sock_type is not in the UAPI headers */

struct l3_info {
  /* First: a cache key is read straight from here (4 or 16 bytes). */
  __u8 src[16];
  __u8 dst[16];
  __u8 family;
  __u8 protocol;
  __u8 fragment;          /* part of a fragmented packet (first one included) */
  __u16 transport_offset; /* 0: no transport header we can read */
} __attribute__((aligned(8)));

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct l3_info *info) {
  struct iphdr iph;
  if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)) < 0) return -1;
  info->family = 4;
  info->protocol = iph.protocol;
  __builtin_memcpy(info->src, &iph.saddr, 4);
  __builtin_memcpy(info->dst, &iph.daddr, 4);
  /* Later fragments carry no ports; the first one does, behind any IP options. */
  if ((iph.frag_off & bpf_htons(0x1fff)) == 0) info->transport_offset = iph.ihl * 4;
  info->fragment = (iph.frag_off & bpf_htons(0x3fff)) != 0; /* MF or an offset */
  return 0;
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct l3_info *info) {
  struct ipv6hdr ip6h;
  if (bpf_skb_load_bytes(skb, 0, &ip6h, sizeof(ip6h)) < 0) return -1;
  info->family = 6;
  __builtin_memcpy(info->src, &ip6h.saddr, 16);
  __builtin_memcpy(info->dst, &ip6h.daddr, 16);

  /* Walk the extension headers to find the ports; only needed for denial events. */
  __u8 next = ip6h.nexthdr;
  __u32 offset = sizeof(ip6h);
  for (int i = 0; i < IPV6_EXT_MAX; i++) {
    __u8 ext[2];
    switch (next) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_ROUTING:
      case IPPROTO_DSTOPTS:
        if (bpf_skb_load_bytes(skb, offset, ext, sizeof(ext)) < 0) return 0;
        next = ext[0];
        offset += (ext[1] + 1) * 8;
        continue;
      case IPPROTO_FRAGMENT: {
        __u8 frag[4];
        if (bpf_skb_load_bytes(skb, offset, frag, sizeof(frag)) < 0) return 0;
        info->fragment = 1;
        if ((frag[2] << 8 | frag[3]) & 0xfff8) { /* not the first fragment */
          info->protocol = frag[0];
          return 0;
        }
        next = frag[0];
        offset += 8;
        continue;
      }
      case IPPROTO_AH:
        if (bpf_skb_load_bytes(skb, offset, ext, sizeof(ext)) < 0) return 0;
        next = ext[0];
        offset += (ext[1] + 2) * 4;
        continue;
      default:
        break;
    }
    break;
  }
  info->protocol = next;
  info->transport_offset = offset;
  return 0;
}

static __always_inline void count(struct gk_counter *c, struct __sk_buff *skb) {
  /* Egress runs before GSO segmentation: one skb may become many packets on the wire. */
  __u32 segs = skb->gso_segs;
  c->packets += segs ? segs : 1;
  c->bytes += skb->len;
}

static __always_inline void report_denial(struct __sk_buff *skb, int dir, struct gk_config *cfg,
                                          struct gk_stats *st, struct l3_info *info,
                                          __u32 rule_id) {
  __u32 zero = 0;
  struct gk_ratelimit *rl = bpf_map_lookup_elem(&ratelimit, &zero);
  if (!rl) return;
  __u64 now = bpf_ktime_get_ns();
  /* Racy window reset across CPUs is harmless: at worst a burst or two more per interval. */
  if (now - rl->window_start_ns >= cfg->event_interval_ns) {
    rl->window_start_ns = now;
    rl->count = 0;
  }
  if (__sync_fetch_and_add(&rl->count, 1) >= cfg->event_burst) {
    st->events_suppressed++;
    return;
  }
  struct gk_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    st->events_lost++;
    return;
  }
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->timestamp_ns = now;
  ev->scope_id = cfg->scope_id;
  ev->rule_id = rule_id;
  ev->ifindex = skb->ifindex;
  ev->length = skb->len;
  ev->direction = dir;
  ev->family = info->family;
  ev->protocol = info->protocol;
  if (dir == GK_DIR_INGRESS) {
    __builtin_memcpy(ev->remote_addr, info->src, 16);
    __builtin_memcpy(ev->local_addr, info->dst, 16);
  } else {
    __builtin_memcpy(ev->remote_addr, info->dst, 16);
    __builtin_memcpy(ev->local_addr, info->src, 16);
  }
  if (info->transport_offset && (info->protocol == IPPROTO_TCP || info->protocol == IPPROTO_UDP)) {
    __be16 ports[2];
    if (bpf_skb_load_bytes(skb, info->transport_offset, ports, sizeof(ports)) == 0) {
      __u16 sport = bpf_ntohs(ports[0]);
      __u16 dport = bpf_ntohs(ports[1]);
      ev->remote_port = dir == GK_DIR_INGRESS ? sport : dport;
      ev->local_port = dir == GK_DIR_INGRESS ? dport : sport;
      ev->flags |= GK_EVENT_HAS_PORTS;
    }
  }
  bpf_ringbuf_submit(ev, 0);
  st->events_sent++;
}

/* A TCP segment with RST set and nothing after the TCP header (options allowed: the kernel's
 * resets may carry timestamps). When a reload newly denies a peer, userspace ends the peer's
 * connections with SOCK_DESTROY; the kernel then sends such a reset from the socket, and it must
 * reach the peer or the peer's side stalls until TCP gives up. A reset carries no data, so
 * letting it out opens nothing. Fragments never qualify (kernel resets are never fragmented, and a
 * first fragment hides what follows), and neither do raw sockets, which could forge "resets" to
 * carry bits in their headers: only a TCP stack's own resets pass. */
static __always_inline int is_bare_rst(struct __sk_buff *skb, struct l3_info *info) {
  if (info->protocol != IPPROTO_TCP || !info->transport_offset || info->fragment) return 0;
  __u8 off_flags[2]; /* data offset (high nibble), then the flags byte */
  if (bpf_skb_load_bytes(skb, info->transport_offset + 12, off_flags, sizeof(off_flags)) < 0)
    return 0;
  if (!(off_flags[1] & 0x04)) return 0; /* RST */
  __u32 header_end = info->transport_offset + (off_flags[0] >> 4) * 4;
  /* skb->len, not the IP length field: bytes beyond that field would still leave. */
  if ((off_flags[0] >> 4) < 5 || skb->len != header_end) return 0;
  struct bpf_sock *sk = skb->sk;
  if (sk) {
    sk = bpf_sk_fullsock(sk);
    if (sk && sk->type == SOCK_RAW) return 0;
  }
  return 1;
}

/* Out of line, as a BPF subprogram: denials are rare, and a subprogram is compiled once and
 * placed apart, so the hot path below (one copy per family) stays short in instructions and in
 * cache lines. It finds the config and statistics again: a subprogram takes five arguments. */
static __noinline int deny(struct __sk_buff *skb, int dir, struct l3_info *info, __u32 rule_id) {
  __u32 zero = 0;
  struct gk_config *cfg = bpf_map_lookup_elem(&config, &zero);
  struct gk_stats *st = bpf_map_lookup_elem(&stats, &zero);
  if (!cfg || !st) return 0; /* cannot happen for arrays; fail closed all the same */
  if (dir == GK_DIR_EGRESS && is_bare_rst(skb, info)) {
    count(&st->rst_passed, skb); /* counted apart, and no denial event: nothing was refused */
    return 1;
  }
  count(&st->denied[dir], skb);
  report_denial(skb, dir, cfg, st, info, rule_id);
  return 0;
}

static __always_inline struct gk_rule_value *lookup(const int family, const __u8 *addr,
                                                    int *have_policy) {
  __u32 zero = 0;
  if (family == 4) {
    void *trie = bpf_map_lookup_elem(&policy_v4, &zero);
    if (!trie) return 0;
    *have_policy = 1;
    struct gk_lpm_v4_key key = {.prefixlen = 32};
    __builtin_memcpy(key.addr, addr, 4);
    return bpf_map_lookup_elem(trie, &key);
  }
  void *trie = bpf_map_lookup_elem(&policy_v6, &zero);
  if (!trie) return 0;
  *have_policy = 1;
  struct gk_lpm_v6_key key = {.prefixlen = 128};
  __builtin_memcpy(key.addr, addr, 16);
  return bpf_map_lookup_elem(trie, &key);
}

struct verdict {
  __u32 verdict; /* enum gk_verdict, 0: no policy installed */
  __u32 rule_id;
};

static __always_inline void *allow_cache(struct gk_config *cfg, const int family) {
  __u32 zero = 0;
  if (!(cfg->flags & GK_CFG_ALLOW_CACHE)) return 0;
  if (family == 4) return bpf_map_lookup_elem(&allow_cache_v4, &zero);
  return bpf_map_lookup_elem(&allow_cache_v6, &zero);
}

/* The verdict for `addr` under the policy in place: allowed at once when the cache says the
 * current policy allowed it, else from the trie (and an allow is then cached). `family` is a
 * constant at each call site, so every map lookup below names one map: the verifier inlines only
 * such lookups. One lookup instruction shared by the IPv4 and IPv6 maps goes through the generic
 * helper and an indirect call, which once made the programs at a million prefixes take twice
 * their time at one prefix under load (program_shape_test fails when a lookup is left to it). */
static __always_inline struct verdict decide(struct gk_config *cfg, const __u8 *addr,
                                             const int family) {
  struct verdict out = {};
  void *cache = allow_cache(cfg, family);
  __u64 *cached = cache ? bpf_map_lookup_elem(cache, addr) : 0;
  if (cached && *(volatile __u64 *)cached == cfg->policy_generation) {
    out.verdict = GK_VERDICT_ALLOW;
    out.rule_id = GK_RULE_NONE; /* rule ids matter only in denial events */
    return out;
  }

  int have_policy = 0;
  struct gk_rule_value *rule = lookup(family, addr, &have_policy);
  if (!have_policy) {
    out.verdict = 0;
    out.rule_id = GK_RULE_NO_POLICY;
    return out;
  }
  if (!rule) { /* cannot happen: every trie has a /0 entry; allow as no entry matched */
    out.verdict = GK_VERDICT_ALLOW;
    out.rule_id = GK_RULE_NONE;
    return out;
  }
  out.verdict = rule->verdict;
  out.rule_id = rule->rule_id;
  if (!cache || out.verdict != GK_VERDICT_ALLOW) return out;
  /* The generation comes from the value the trie returned, not from the config: a packet that
   * walked the old trie while userspace swapped can only cache the old generation. */
  __u64 generation = rule->generation;
  if (cached)
    *(volatile __u64 *)cached = generation;
  else
    bpf_map_update_elem(cache, addr, &generation, BPF_NOEXIST); /* full or raced: fine */
  return out;
}

/* Everything after the protocol check, once per family so that `family` is a constant. */
static __always_inline int filter_family(struct __sk_buff *skb, int dir, struct gk_config *cfg,
                                         struct gk_stats *st, const int family) {
  struct l3_info info = {};
  int parsed = family == 4 ? parse_ipv4(skb, &info) : parse_ipv6(skb, &info);
  if (parsed < 0) return deny(skb, dir, &info, GK_RULE_NONE);

  if (dir == GK_DIR_INGRESS && (cfg->flags & GK_CFG_BIND_DEVICE) &&
      skb->ifindex != cfg->bound_ifindex)
    return deny(skb, dir, &info, GK_RULE_DEVICE);

  struct verdict v = decide(cfg, dir == GK_DIR_INGRESS ? info.src : info.dst, family);
  if (v.verdict != GK_VERDICT_ALLOW) return deny(skb, dir, &info, v.rule_id);

  count(&st->allowed[dir], skb);
  return 1;
}

static __always_inline int filter(struct __sk_buff *skb, int dir) {
  __u32 zero = 0;
  struct gk_config *cfg = bpf_map_lookup_elem(&config, &zero);
  struct gk_stats *st = bpf_map_lookup_elem(&stats, &zero);
  if (!cfg || !st) return 0; /* cannot happen for arrays; fail closed all the same */

  /* cgroup bpf_links attach with BPF_F_ALLOW_MULTI and any drop wins, so the host program must
   * stay out of the gates' way: their programs carry the merged host + gate lists. */
  if ((cfg->flags & GK_CFG_HOST) && cfg->gates_cgroup_id &&
      bpf_skb_ancestor_cgroup_id(skb, cfg->gates_cgroup_level) == cfg->gates_cgroup_id) {
    count(&st->delegated[dir], skb);
    return 1;
  }

  if (skb->protocol == bpf_htons(ETH_P_IP)) return filter_family(skb, dir, cfg, st, 4);
  if (skb->protocol == bpf_htons(ETH_P_IPV6)) return filter_family(skb, dir, cfg, st, 6);
  return 1; /* not IP: outside what IPAddressAllow/Deny speak about, as in systemd */
}

SEC("cgroup_skb/ingress")
int gk_ingress(struct __sk_buff *skb) { return filter(skb, GK_DIR_INGRESS); }

SEC("cgroup_skb/egress")
int gk_egress(struct __sk_buff *skb) { return filter(skb, GK_DIR_EGRESS); }
