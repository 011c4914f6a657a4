#!/usr/bin/env bash
# The privileged tests' ctest fixture: none of their cgroups, BPF pins or network namespaces may
# remain, whatever happened in the tests.
#   check_leftovers.sh --snapshot FILE   before the tests: record what already exists
#   check_leftovers.sh --check FILE      after them: fail on anything new
# The kernel's state outlives a run: a run killed mid-test (or another checkout on the same
# kernel) leaves entries this run did not make. They are reported, not blamed on this run, and
# not removed: they may belong to a run still going.
set -u
mode=${1:?usage: check_leftovers.sh --snapshot|--check FILE}
file=${2:?usage: check_leftovers.sh --snapshot|--check FILE}

list() {
  local cgroup2 d ns
  cgroup2=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
  for d in "$cgroup2"/gk-test-* /sys/fs/bpf/gk-test-*; do
    [[ -e "$d" ]] && echo "$d"
  done
  while read -r ns _; do
    [[ "$ns" == gks* || "$ns" == gkc* ]] && echo "netns $ns"
  done < <(ip netns list 2>/dev/null)
}

case "$mode" in
  --snapshot)
    list | sort >"$file"
    if [[ -s "$file" ]]; then
      sed 's/^/there before the tests (not checked): /' "$file"
    fi
    ;;
  --check)
    before=$file
    [[ -f "$before" ]] || before=/dev/null
    new=$(list | sort | comm -13 "$before" -)
    if [[ -n "$new" ]]; then
      echo "$new" | sed 's/^/left behind by the tests: /'
      exit 1
    fi
    echo "no test cgroups, pins or namespaces left"
    ;;
  *)
    echo "usage: check_leftovers.sh --snapshot|--check FILE" >&2
    exit 2
    ;;
esac
