# systemd's own filter for the packet part (configuration sd:N): IPAddressDeny=any and N
# IPAddressAllow= prefixes on the two servers' units, applied by a real systemd (Debian 12's 252)
# as an operator's host would. PID 1 of the benchmark host need not be systemd: the servers run in
# a throwaway container booted with systemd-nspawn from the root that scripts/nspawn-root caches
# for the real-systemd test, sharing the configuration's server namespace.

sd_root_dir=""

# sd_root: makes sure the cached root is complete (an install step: debootstrap reaches Debian's
# package registry when it is not) and holds a shared lock on it, as the test does, so that
# scripts/nspawn-root never rebuilds it under a running container.
sd_root() {
  [[ -z "$sd_root_dir" ]] || return 0
  "$root/scripts/nspawn-root"
  sd_root_dir=$("$root/scripts/nspawn-root" --path)
  exec {sd_lock_fd}>"$sd_root_dir.lock"
  flock -s "$sd_lock_fd"
  echo "- systemd for sd:N (in the container): $(dpkg-query --admindir="$sd_root_dir/var/lib/dpkg" \
    -W -f='${Version}' systemd)" >>"$out/machine.md"
}

# sd_unit DIR NAME N SEED EXEC...: an enabled service NAME.service running EXEC on the servers'
# CPU, with IPAddressDeny=any and N allow prefixes made as gatekeeper's are (as drop-ins).
sd_unit() {
  local dir=$1 name=$2 n=$3 seed=$4
  shift 4
  printf '[Service]\nExecStart=%s\nCPUAffinity=%s\nIPAddressDeny=any\n' \
    "$*" "$pp_server_cores" >"$dir/$name.service"
  printf '[Install]\nWantedBy=multi-user.target\n' >>"$dir/$name.service"
  gk_lists "$dir/$name.service" Service "$n" "$seed"
  ln -s "../$name.service" "$dir/multi-user.target.wants/$name.service"
}

# sd_boot NAME N SEED UNIT=COMMAND...: boots a container in namespace NAMEs whose units UNIT run
# COMMAND, each filtered with N allow prefixes, and waits until they all run (or one fails: its
# journal is shown). Sets sd_nspawn (the nspawn process), sd_leader (the container's systemd, a
# host pid) and sd_active_ms (nspawn started → every unit active). One container at a time per
# NAME; sd_halt stops it.
sd_boot() {
  local n=$1 count=$2 seed=$3 spec units t0
  shift 3
  sd_root
  sd_dir=$(mktemp -d /tmp/gk-bench-nspawn.XXXXXX)
  bench_dirs+=("$sd_dir")
  mkdir "$sd_dir/upper" "$sd_dir/work" "$sd_dir/root"
  mount -t overlay overlay \
    -o "lowerdir=$sd_root_dir,upperdir=$sd_dir/upper,workdir=$sd_dir/work" "$sd_dir/root"
  bench_mounts+=("$sd_dir/root")
  units="$sd_dir/root/etc/systemd/system"
  mkdir -p "$units/multi-user.target.wants"
  local names=() binds=() cmd
  for spec in "$@"; do
    names+=("${spec%%=*}")
    cmd=${spec#*=}
    # gk-bench-server comes from the build: bound in read-only at the same path.
    [[ ${cmd%% *} == /usr/* ]] || binds+=(--bind-ro="${cmd%% *}")
    # shellcheck disable=SC2086 # the command's words
    sd_unit "$units" "${spec%%=*}" "$count" "$seed" $cmd
  done
  # nspawn --keep-unit makes payload/ (the container) and supervisor/ beside the cgroup it starts
  # in: a cgroup of its own keeps them apart, at the depth of gatekeeper's (the units end up in
  # <cgroup2>/gk-bench-NAME/payload/system.slice/, one level deeper).
  sd_cg="$cgroup2/gk-bench-$n"
  mkdir -p "$sd_cg"
  bench_cgroups+=("$sd_cg")
  # The host may have the hybrid layout; the container gets cgroup v2 only, as a Debian 12 host
  # boots. nspawn's seccomp filter refuses bpf() unless allowed. No machined: --register=no.
  t0=$(now_ns)
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 "${pp_server_cpu[@]}" \
    sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$sd_cg" \
    systemd-nspawn --directory="$sd_dir/root" --boot --machine="$n" \
    --network-namespace-path="/run/netns/${n}s" --register=no --keep-unit --console=passive \
    --link-journal=no --system-call-filter=bpf --capability=all "${binds[@]}" \
    </dev/null &>>"$out/nspawn-$n.log" &
  sd_nspawn=$!
  bench_pids+=("$sd_nspawn")
  local deadline=$((SECONDS + 300)) states="" want
  sd_leader=""
  want=$(printf 'active %.0s' "${names[@]}")
  while :; do
    if ! kill -0 "$sd_nspawn" 2>/dev/null; then
      echo "bench: systemd-nspawn for $n exited; see $out/nspawn-$n.log" >&2
      return 1
    fi
    [[ -n "$sd_leader" ]] || sd_leader=$(sd_leader_of "$sd_cg") || true
    if [[ -n "$sd_leader" ]]; then
      states=$(nsenter -t "$sd_leader" -a systemctl is-active "${names[@]}" 2>/dev/null |
               tr '\n' ' ' || true)
      [[ "$states" == "$want" ]] && break
      if [[ "$states" == *failed* ]]; then
        nsenter -t "$sd_leader" -a journalctl --no-pager -n 30 "${names[@]/#/-u}" >&2
        echo "bench: a unit of $n failed ($states)" >&2
        return 1
      fi
    fi
    if ((SECONDS >= deadline)); then
      echo "bench: units of $n not active after 300 s (${states:-no systemd yet})" >&2
      return 1
    fi
    sleep 0.05  # polling systemctl with a deadline: nothing here signals the units' start
  done
  sd_active_ms=$(ms_since "$t0")
  # systemd's programs must be the ones filtering: both directions on every unit.
  local name
  for name in "${names[@]}"; do
    if [[ $(bpftool cgroup show "$sd_cg/payload/system.slice/$name.service" 2>/dev/null |
            grep -cE 'sd_fw_(ingress|egress)') != 2 ]]; then
      echo "bench: systemd attached no firewall programs to $name in $n" >&2
      return 1
    fi
  done
}

# sd_leader_of CGROUP: the container's systemd (host pid), once it has moved into its init.scope.
sd_leader_of() {
  local procs="$1/payload/init.scope/cgroup.procs"
  [[ -r "$procs" ]] && head -n 1 "$procs"
}

# sd_halt: stops the container sd_boot started (halt, then SIGKILL after 30 s) and removes its
# overlay and cgroups. bench_cleanup does the same for any left at exit.
sd_halt() {
  kill -TERM "$sd_nspawn" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$sd_nspawn" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  kill -KILL "$sd_nspawn" 2>/dev/null || true
  wait "$sd_nspawn" 2>/dev/null || true
  [[ -f "$sd_cg/cgroup.kill" ]] && echo 1 >"$sd_cg/cgroup.kill" 2>/dev/null || true
  umount "$sd_dir/root" 2>/dev/null || umount -l "$sd_dir/root"
  rm -rf "$sd_dir"
  deadline=$((SECONDS + 10))
  while [[ -d "$sd_cg" ]] && ((SECONDS < deadline)); do
    find "$sd_cg" -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.05
  done
}

# sd_start NAME N: the container of configuration sd:N: the rate server and iperf3 as units.
sd_start() {
  sd_boot "$1" "$2" 1 "gk-bench-rate=$(readlink -f "$bin/gk-bench-server") --listen 192.0.2.1:9000" \
    "gk-bench-bulk=/usr/bin/iperf3 --server --bind 192.0.2.1 --port 5201"
}
