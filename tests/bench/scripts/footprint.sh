# Footprint: the daemon with 1 and with G gates (each a listener bound to a veth device, an allow
# list and a service started on the first connection, so no service runs): time from start to
# READY=1, then, once every gate listens, its RSS and its wake-ups per second over an idle
# window. Wake-ups are the context switches of all its threads (/proc/PID/task/*/status): each
# wake-up ends in one when the thread sleeps again. The window is a measurement interval, not a
# wait for state. Then one gate with a list of a million prefixes: start to READY=1 and RSS once
# it listens (what a large policy costs the daemon; no idle window). With "sd" last, also
# systemd's own cost of such a list: a container (systemd_filter.sh) whose one unit has N = 1 or
# 1,000,000 allow prefixes, the time from starting it to the unit active and PID 1's RSS then.

fp_switches() {  # PID: voluntary + involuntary context switches of all threads
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s }'
}

fp_daemon_pid() {  # PID of gk-notify-wait -> the gatekeeper process under it (nsenter execs it)
  pgrep -P "$1" | head -n 1
}

footprint() {
  local rounds=$1 idle=$2 many=$3 with_sd=${4:-} n="${bench_tag}f" r g count
  echo "== footprint: 1 and $many gates, $rounds rounds, ${idle} s idle windows =="
  ns_pair "$n"
  for g in 1 "$many"; do
    local dir; dir=$(mktemp -d /tmp/gk-bench-conf.XXXXXX)
    bench_dirs+=("$dir")
    for ((i = 0; i < g; i++)); do
      printf '[Socket]\nListenStream=192.0.2.1:%d\nBindToDevice=v%s\nIPAddressDeny=any\n' \
        "$((10000 + i))" "$n" >"$dir/g$i.gate"
      printf 'IPAddressAllow=192.0.2.2 2001:db8::/32\n[Service]\nExecStart=%s\n' \
        "$bin/gk-bench-server" >>"$dir/g$i.gate"
    done
    eval "fp_dir_$g=\$dir"
  done
  fp_dir_large=$(mktemp -d /tmp/gk-bench-conf.XXXXXX)
  bench_dirs+=("$fp_dir_large")
  printf '[Socket]\nListenStream=192.0.2.1:10000\nBindToDevice=v%s\nIPAddressDeny=any\n' "$n" \
    >"$fp_dir_large/large.gate"
  gk_lists "$fp_dir_large/large.gate" Socket 1000000 41
  for ((r = 1; r <= rounds; r++)); do
    for g in 1 "$many"; do
      local dir_var="fp_dir_$g" pid before after
      gk_start "$n" "${!dir_var}"
      gk_wait_states "$gk_runtime" "$g" listening
      pid=$(fp_daemon_pid "$gk_pid")
      before=$(fp_switches "$pid")
      sleep "$idle"  # the idle window being measured
      after=$(fp_switches "$pid")
      record footprint "gates:$g" "$r" ready_ms "$gk_ready_ms"
      local rss wakeups
      rss=$(awk '/^VmRSS/ { print $2 / 1024 }' /proc/"$pid"/status)
      wakeups=$(awk -v a="$before" -v b="$after" -v t="$idle" 'BEGIN { print (b - a) / t }')
      record footprint "gates:$g" "$r" rss_mib "$rss"
      record footprint "gates:$g" "$r" wakeups_per_s "$wakeups"
      printf '  round %d %3d gates: READY after %s ms, RSS %s MiB, %s wake-ups/s\n' "$r" "$g" \
        "$gk_ready_ms" "$rss" "$wakeups"
      gk_stop "$gk_pid"
    done
    gk_start "$n" "$fp_dir_large"
    gk_wait_states "$gk_runtime" 1 listening
    pid=$(fp_daemon_pid "$gk_pid")
    rss=$(awk '/^VmRSS/ { print $2 / 1024 }' /proc/"$pid"/status)
    record footprint "prefixes:1000000" "$r" ready_ms "$gk_ready_ms"
    record footprint "prefixes:1000000" "$r" rss_mib "$rss"
    printf '  round %d 1 gate of 1,000,000 prefixes: READY after %s ms, RSS %s MiB\n' "$r" \
      "$gk_ready_ms" "$rss"
    gk_stop "$gk_pid"
    [[ $with_sd == sd ]] || continue
    for count in 1 1000000; do
      sd_boot "$n" "$count" 41 \
        "gk-bench-fp=$(readlink -f "$bin/gk-bench-server") --listen 192.0.2.1:10000"
      rss=$(awk '/^VmRSS/ { print $2 / 1024 }' /proc/"$sd_leader"/status)
      record footprint "systemd-prefixes:$count" "$r" active_ms "$sd_active_ms"
      record footprint "systemd-prefixes:$count" "$r" rss_mib "$rss"
      printf '  round %d systemd, 1 unit of %d prefixes: active after %s ms, PID 1 RSS %s MiB\n' \
        "$r" "$count" "$sd_active_ms" "$rss"
      sd_halt
    done
  done
}
