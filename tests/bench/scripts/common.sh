# Shared by the benchmark parts (sourced by scripts/bench): namespaces, daemons, clean-up, timing.
# Every namespace, daemon, cgroup and pin a part makes is registered here and removed on exit,
# also when a part fails or the run is interrupted.

bench_tag="gkb$$"
bench_namespaces=()
bench_pids=()
bench_dirs=()
bench_cgroups=()
bench_mounts=()
cgroup2=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
[[ -n "$cgroup2" ]] || { echo "bench: no cgroup v2 mount" >&2; exit 1; }

bench_cleanup() {
  local pid ns d
  # The packet part may have turned on kernel.bpf_stats_enabled (--bpf-stats).
  if [[ -n "${pp_bpf_stats_was:-}" ]]; then sysctl -q kernel.bpf_stats_enabled="$pp_bpf_stats_was"; fi
  for pid in "${bench_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # A container halts in a few seconds; whatever has not stopped in 30 is killed.
  local deadline=$((SECONDS + 30)) alive
  while :; do
    alive=0
    for pid in "${bench_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1 && break; done
    ((alive && SECONDS < deadline)) || break
    sleep 0.1
  done
  for pid in "${bench_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for d in "${bench_cgroups[@]}"; do
    # What a killed container or daemon left running in its cgroup.
    [[ -f "$d/cgroup.kill" ]] && echo 1 >"$d/cgroup.kill" 2>/dev/null || true
  done
  for d in "${bench_mounts[@]}"; do umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true; done
  for ns in "${bench_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for d in "${bench_cgroups[@]}"; do
    # Deepest first; a daemon stopped gracefully has emptied them already. Processes killed just
    # now may take a moment to leave.
    local until=$((SECONDS + 10))
    while [[ -d "$d" ]]; do
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      ((SECONDS < until)) || break
      [[ -d "$d" ]] && sleep 0.1
    done
  done
  for d in "${bench_dirs[@]}"; do rm -rf "$d"; done
}

now_ns() { date +%s%N; }
ms_since() { echo "$(( ($(now_ns) - $1) / 1000 ))" | awk '{ printf "%.3f", $1 / 1000 }'; }

# record BENCH CONFIG ROUND METRIC VALUE: one measurement into the raw CSV.
record() { echo "$1,$2,$3,$4,$5" >>"$raw"; }

# ns_pair NAME: namespaces NAMEs (server, 192.0.2.1) and NAMEc (client, 192.0.2.2) on a veth pair
# vNAME / pNAME. The client may reuse TIME_WAIT ports: a benchmark opens far more connections
# than the ephemeral range holds for 60 s.
ns_pair() {
  local n=$1
  ip netns add "${n}s"
  bench_namespaces+=("${n}s")
  ip netns add "${n}c"
  bench_namespaces+=("${n}c")
  ip link add "v$n" netns "${n}s" type veth peer name "p$n" netns "${n}c"
  ip -n "${n}s" addr add 192.0.2.1/24 dev "v$n"
  ip -n "${n}c" addr add 192.0.2.2/24 dev "p$n"
  ip -n "${n}s" link set lo up
  ip -n "${n}c" link set lo up
  ip -n "${n}s" link set "v$n" up
  ip -n "${n}c" link set "p$n" up
  ip netns exec "${n}c" sysctl -q net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535"
  ip netns exec "${n}s" sysctl -q net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
}

in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# gk_start NAME CONFIG_DIR [WRAPPER...]: a gatekeeper daemon in namespace NAMEs with its own
# runtime dir, cgroup base and pin dir, started through WRAPPER (e.g. taskset); sets gk_pid,
# gk_runtime and gk_ready_ms (start to READY=1).
gk_start() {
  local n=$1 config=$2
  shift 2
  gk_runtime=$(mktemp -d /tmp/gk-bench-run.XXXXXX)
  bench_dirs+=("$gk_runtime" "/sys/fs/bpf/gk-bench-$n")
  bench_cgroups+=("$cgroup2/gk-bench-$n")
  local ready="$gk_runtime/ready-ms"
  "$@" "$bin/gk-notify-wait" --ready-file "$ready" -- nsenter --net="/run/netns/${n}s" \
    "$bin/gatekeeper" run --config-dir "$config" --runtime-dir "$gk_runtime" \
    --cgroup-base "$cgroup2/gk-bench-$n" --host-cgroup "$cgroup2/gk-bench-$n/host" \
    --bpffs-dir "/sys/fs/bpf/gk-bench-$n" &>>"$out/daemon-$n.log" &
  gk_pid=$!
  bench_pids+=("$gk_pid")
  local deadline=$((SECONDS + 120))
  until [[ -s "$ready" ]]; do
    if ! kill -0 "$gk_pid" 2>/dev/null; then
      echo "bench: daemon $n exited; see $out/daemon-$n.log" >&2
      return 1
    fi
    ((SECONDS < deadline)) || { echo "bench: daemon $n not ready in 120 s" >&2; return 1; }
    sleep 0.05  # polling a file with a deadline; the daemon's READY=1 lands in it
  done
  gk_ready_ms=$(<"$ready")
}

# gk_wait_states RUNTIME COUNT STATE...: polls status until COUNT gates are in one of STATEs.
gk_wait_states() {
  local runtime=$1 count=$2; shift 2
  local states filter deadline=$((SECONDS + 60))
  states=$(printf '"%s",' "$@")
  filter="[.gates[] | select(.state as \$s | [${states%,}] | index(\$s))] | length"
  while :; do
    local have
    have=$("$bin/gatekeeper" status --runtime-dir "$runtime" --json 2>/dev/null |
           jq "$filter" 2>/dev/null || echo 0)
    ((have >= count)) && return 0
    if ((SECONDS >= deadline)); then
      echo "bench: $have of $count gates in state $* after 60 s" >&2
      return 1
    fi
    sleep 0.05
  done
}

# gk_stop PID: SIGTERM and wait (the daemon removes its cgroups and pins itself).
gk_stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# gk_lists GATE_FILE SECTION N SEED: N allow prefixes for GATE_FILE's SECTION, as drop-ins
# (GATE_FILE.d/NNN.conf): a gate file is at most 1 MiB and a line 64 KiB, so a list of a
# million entries is spread over files of 50 lines of 1,000 prefixes, as an operator would.
gk_lists() {
  local gate=$1 section=$2 n=$3 seed=$4 part
  mkdir -p "$gate.d"
  rm -f "$gate.d"/list-*.conf
  "$bin/gk-bench-prefixes" --count "$n" --seed "$seed" --format gate |
    split -l 50 -d -a 4 - "$gate.d/list-"
  for part in "$gate.d"/list-*; do
    { echo "[$section]"; cat "$part"; } >"$part.conf"
    rm "$part"
  done
}
