#!/usr/bin/env bash
# Runs after the privileged tests (ctest fixture clean-up): none of their cgroups, BPF pins,
# network namespaces or veth devices may remain, whatever happened in the tests.
set -u
cgroup2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
left=()
for d in "$cgroup2"/gk-test-* /sys/fs/bpf/gk-test-*; do
  [[ -e "$d" ]] && left+=("$d")
done
while read -r ns _; do
  [[ "$ns" == gks* || "$ns" == gkc* ]] && left+=("netns $ns")
done < <(ip netns list 2>/dev/null)
if ((${#left[@]})); then
  printf 'left behind by the tests: %s\n' "${left[@]}"
  exit 1
fi
echo "no test cgroups, pins or namespaces left"
