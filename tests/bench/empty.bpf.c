// SPDX-License-Identifier: GPL-2.0
/* The floor of any cgroup_skb filter: programs that pass every packet. The packet benchmark's
 * `empty` configuration attaches them where gatekeeper attaches its own, so that what the kernel's
 * cgroup-bpf hooks cost by themselves is measured apart from what gatekeeper's programs add. */
#include <linux/bpf.h>
/* After linux/bpf.h, which defines the types it uses. */
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("cgroup_skb/ingress")
int gk_bench_ingress(struct __sk_buff *skb) { return 1; }

SEC("cgroup_skb/egress")
int gk_bench_egress(struct __sk_buff *skb) { return 1; }
