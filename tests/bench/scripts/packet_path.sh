# Packet path: connections per second (gk-conn-rate: connect, 1-byte request and reply, close)
# and bulk throughput (iperf3) from a client namespace to a server namespace over veth, for each
# filter. Every configuration lives in its own pair of namespaces, set up once, so the rounds can
# interleave them cheaply: round r runs every configuration, in an order rotated by r.
#   base       no filter: the limit, its servers in a cgroup as deep as gatekeeper's services
#              (<cgroup2>/gk-bench-NAME/gates/rate.service), as every configuration but base-root
#   base-root  no filter, its servers in the cgroup the benchmark runs in (often the root): what
#              a deeper cgroup costs by itself, filter or not (per-cgroup accounting such as
#              pressure stall information is kept at every level of the path)
#   empty      base with programs that pass every packet attached to both servers' cgroups, as
#              gatekeeper attaches its own: what the kernel's cgroup-bpf hooks cost by themselves,
#              the floor of any filter built on them
#   gk:N       gatekeeper, a gate with IPAddressDeny=any and N allow prefixes (the client's /32
#              last, matched at full depth); iperf3 runs as the service of a second gate whose
#              [Service] lists are the same, so its own socket is filtered by the service scope
#   nft:N      nftables: the same N prefixes as an interval set, checked for every packet to and
#              from the two ports (input: source, output: destination, as gatekeeper checks both
#              directions; no conntrack shortcut, as the cgroup programs check every packet)
#   sd:N       systemd's own filter: the two servers as units of a real systemd (in a container
#              sharing the server namespace, tests/bench/scripts/systemd_filter.sh), each with
#              IPAddressDeny=any and the N allow prefixes
#   ipt:N      iptables (Debian 12's default, the nf_tables backend): a linear chain of N
#              `-s PREFIX -j ACCEPT` rules, the client's last, then DROP, for every packet in; its
#              mirror with `-d` for every packet out
# Servers (and gatekeeper with its services) run on CPU 0, clients on CPU 1: left to the
# scheduler, the two sides move between the two cores and the rates vary far more.
pp_server_cores=0
pp_client_cores=1
pp_server_cpu=(taskset -c "$pp_server_cores")
pp_client_cpu=(taskset -c "$pp_client_cores")

pp_gate_files() {  # DIR N: the two gates of a gk:N configuration
  local dir=$1 n=$2
  printf '[Socket]\nListenStream=192.0.2.1:9000\nBacklog=4096\n' >"$dir/rate.gate"
  printf 'IPAddressDeny=any\n' >>"$dir/rate.gate"
  printf '[Service]\nExecStart=%s\nStart=immediately\n' "$bin/gk-bench-server" >>"$dir/rate.gate"
  gk_lists "$dir/rate.gate" Socket "$n" 1
  printf '[Socket]\nListenStream=192.0.2.1:9001\n[Service]\nStart=immediately\n' >"$dir/bulk.gate"
  printf 'ExecStart=/usr/bin/iperf3 --server --bind 192.0.2.1 --port 5201\n' >>"$dir/bulk.gate"
  printf 'IPAddressDeny=any\n' >>"$dir/bulk.gate"
  gk_lists "$dir/bulk.gate" Service "$n" 1
}

pp_setup() {  # INDEX CONFIG
  local n="${bench_tag}p$1" kind=${2%%:*} count=${2#*:} f
  ns_pair "$n"
  case "$kind" in
    gk)
      local config
      config=$(mktemp -d /tmp/gk-bench-conf.XXXXXX)
      bench_dirs+=("$config")
      pp_gate_files "$config" "$count"
      gk_start "$n" "$config" "${pp_server_cpu[@]}"
      gk_wait_states "$gk_runtime" 2 running
      return
      ;;
    sd)
      sd_start "$n" "$count"
      return
      ;;
    nft)
      f="$out/nft-$count.nft"
      [[ -f "$f" ]] || "$bin/gk-bench-prefixes" --count "$count" --seed 1 --format nft >"$f"
      ip netns exec "${n}s" nft -f "$f"
      ;;
    ipt)
      f="$out/ipt-$count.rules"
      [[ -f "$f" ]] || "$bin/gk-bench-prefixes" --count "$count" --seed 1 --format iptables >"$f"
      ip netns exec "${n}s" iptables-restore <"$f"
      ;;
    base | base-root | empty) ;;
    *) echo "bench: unknown configuration $2" >&2; return 1 ;;
  esac
  local rate_cg="" bulk_cg=""
  if [[ $kind != base-root ]]; then
    # The cgroups gatekeeper would give the two services; no programs are attached to them.
    rate_cg="$cgroup2/gk-bench-$n/gates/rate.service"
    bulk_cg="$cgroup2/gk-bench-$n/gates/bulk.service"
    bench_cgroups+=("$cgroup2/gk-bench-$n")
    mkdir -p "$rate_cg" "$bulk_cg"
  fi
  if [[ $kind == empty ]]; then
    local pins="/sys/fs/bpf/gk-bench-$n" cg dir
    bench_dirs+=("$pins")
    bpftool prog loadall "$bin/bench_empty.bpf.o" "$pins"
    for cg in "$rate_cg" "$bulk_cg"; do
      for dir in ingress egress; do
        bpftool cgroup attach "$cg" "$dir" pinned "$pins/gk_bench_$dir" multi
      done
    done
  fi
  # Each server execs through the chain (sh joins the cgroup CG unless it is empty, nsenter the
  # namespace): $! is then the server's pid, and its listening socket belongs to that cgroup.
  local join='[ -z "$1" ] || echo $$ >"$1/cgroup.procs" && shift && exec "$@"'
  "${pp_server_cpu[@]}" sh -c "$join" sh "$rate_cg" nsenter --net="/run/netns/${n}s" \
    "$bin/gk-bench-server" --listen 192.0.2.1:9000 &>>"$out/servers.log" &
  bench_pids+=($!)
  "${pp_server_cpu[@]}" sh -c "$join" sh "$bulk_cg" nsenter --net="/run/netns/${n}s" \
    iperf3 --server --bind 192.0.2.1 --port 5201 &>>"$out/servers.log" &
  bench_pids+=($!)
}

# pp_ready INDEX: the server answers and iperf3 listens (polled with a deadline).
pp_ready() {
  local n="${bench_tag}p$1" deadline=$((SECONDS + 30))
  until in_ns "${n}c" "$bin/gk-conn-rate" --target 192.0.2.1:9000 --seconds 0.05 --warmup 0 \
          --concurrency 1 2>/dev/null | jq -e '.connections > 0 and .failed == 0' >/dev/null &&
        in_ns "${n}s" ss -Hltn 'sport = :5201' | grep -q LISTEN; do
    if ((SECONDS >= deadline)); then
      echo "bench: configuration $1 not serving after 30 s" >&2
      return 1
    fi
    sleep 0.05
  done
}

# pp_prog_snapshot FILE: run count and run time of every gatekeeper, systemd and `empty` program
# (kernel.bpf_stats).
pp_prog_snapshot() {
  bpftool prog show --json |
    jq -r '.[] | select(.name | test("^(gk_(bench_)?|sd_fw_)(ingress|egress)$")) |
           "\(.id) \(.name) \(.run_cnt // 0) \(.run_time_ns // 0)"' | sort -k1,1 >"$1"
}

# pp_prog_record CONFIG ROUND BEFORE AFTER: ns per run of each direction's programs, over the
# programs that ran between the two snapshots (warm-up included).
pp_prog_record() {
  local c=$1 r=$2 line
  while read -r line; do
    record prog "$c" "$r" ${line}
  done < <(join "$3" "$4" | awk '
      { runs[$2] += $6 - $3; ns[$2] += $7 - $4 }
      END {
        for (d in runs) if (runs[d] > 0) {
          dir = d ~ /ingress$/ ? "ingress" : "egress"
          printf "%s_ns_per_run,%.1f\n", dir, ns[d] / runs[d]
        }
      }' | tr ',' ' ')
}

packet_path() {
  local configs=("$@") i r k
  echo "== packet path: ${configs[*]} (${pp_rounds} rounds, ${pp_seconds} s each) =="
  for i in "${!configs[@]}"; do
    local t0; t0=$(now_ns)
    pp_setup "$i" "${configs[$i]}"
    pp_ready "$i"
    echo "  set up ${configs[$i]} in $(ms_since "$t0") ms"
  done
  if ((pp_bpf_stats)); then
    # Costs a little per program run, the same for every gatekeeper configuration; restored on exit.
    pp_bpf_stats_was=$(sysctl -n kernel.bpf_stats_enabled)
    sysctl -q kernel.bpf_stats_enabled=1
  fi
  # A round measures every configuration's rate back to back, then every bulk rate: the samples a
  # ratio compares lie seconds apart, and this host's speed drifts over tens of seconds.
  for ((r = 1; r <= pp_rounds; r++)); do
    for ((k = 0; k < ${#configs[@]}; k++)); do
      i=$(( (k + r) % ${#configs[@]} ))
      local n="${bench_tag}p$i" c=${configs[$i]} res
      ((pp_bpf_stats)) && pp_prog_snapshot "$out/prog-before"
      res=$("${pp_client_cpu[@]}" "$bin/gk-conn-rate" --netns "${n}c" --target 192.0.2.1:9000 \
              --seconds "$pp_seconds" --warmup 0.5 --concurrency 16)
      if ((pp_bpf_stats)) && [[ $c == gk:* || $c == sd:* || $c == empty ]]; then
        pp_prog_snapshot "$out/prog-after"
        pp_prog_record "$c" "$r" "$out/prog-before" "$out/prog-after"
      fi
      record rate "$c" "$r" conn_per_s "$(jq .rate <<<"$res")"
      record rate "$c" "$r" failed "$(jq .failed <<<"$res")"
      printf '  round %d %-10s %s conn/s\n' "$r" "$c" "$(jq .rate <<<"$res")"
    done
    for ((k = 0; k < ${#configs[@]}; k++)); do
      i=$(( (k + r) % ${#configs[@]} ))
      local n="${bench_tag}p$i" c=${configs[$i]} res
      res=$("${pp_client_cpu[@]}" nsenter --net="/run/netns/${n}c" \
              iperf3 --client 192.0.2.1 --port 5201 --time "$pp_seconds" --omit 1 --json)
      record bulk "$c" "$r" gbit_per_s "$(jq '.end.sum_received.bits_per_second / 1e9' <<<"$res")"
      printf '  round %d %-10s %s Gbit/s\n' "$r" "$c" "$(tail -n 1 "$raw" | cut -d, -f5)"
    done
  done
  if ((pp_bpf_stats)); then sysctl -q kernel.bpf_stats_enabled="$pp_bpf_stats_was"; fi
}
