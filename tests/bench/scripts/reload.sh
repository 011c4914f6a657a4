# Policy reload: `gatekeeper reload` after a gate's allow list of N prefixes was replaced by
# another of N (read, parse, validate, compile, fill fresh tries, swap: the whole user-visible
# path), interleaved with `nft -f` loading the same set into a table of its own; then
# connections failed while 100 reloads swap the policy under load (must be zero).

rl_gate() {  # FILE: the gate; its lists are drop-ins (gk_lists)
  printf '[Socket]\nListenStream=192.0.2.1:9000\nBacklog=4096\nIPAddressDeny=any\n' >"$1"
  printf '[Service]\nExecStart=%s\nStart=immediately\n' "$bin/gk-bench-server" >>"$1"
}

# rl_install FROM CONFIG: the prepared drop-ins FROM.d replace CONFIG/rate.gate.d (outside the
# timed part: the reload that follows reads them).
rl_install() {
  rm -rf "$2/.rate.gate.d.new" "$2/.rate.gate.d.old"
  cp -r "$1.d" "$2/.rate.gate.d.new"
  mv "$2/rate.gate.d" "$2/.rate.gate.d.old"
  mv "$2/.rate.gate.d.new" "$2/rate.gate.d"
  rm -rf "$2/.rate.gate.d.old"
}

reload_bench() {
  local rounds=$1 swaps=$2; shift 2
  local sizes=("$@") n="${bench_tag}r" config files N r t0 res
  echo "== reload: N = ${sizes[*]} ($rounds rounds), then $swaps swaps under load =="
  ns_pair "$n"
  ip netns add "${bench_tag}n"
  bench_namespaces+=("${bench_tag}n")
  config=$(mktemp -d /tmp/gk-bench-conf.XXXXXX)
  files=$(mktemp -d /tmp/gk-bench-files.XXXXXX)
  bench_dirs+=("$config" "$files")
  rl_gate "$config/rate.gate"
  gk_lists "$config/rate.gate" Socket 1 1
  gk_start "$n" "$config"
  gk_wait_states "$gk_runtime" 1 running
  for N in "${sizes[@]}"; do
    for s in 1 2; do
      gk_lists "$files/$N-$s.gate" Socket "$N" "$((10 + s))"
      "$bin/gk-bench-prefixes" --count "$N" --seed "$((10 + s))" --format nft >"$files/$N-$s.nft"
    done
    for ((r = 1; r <= rounds; r++)); do
      local s=$(( r % 2 + 1 ))
      rl_install "$files/$N-$s.gate" "$config"
      t0=$(now_ns)
      "$bin/gatekeeper" reload --runtime-dir "$gk_runtime" >/dev/null
      record reload "gk:$N" "$r" ms "$(ms_since "$t0")"
      t0=$(now_ns)
      ip netns exec "${bench_tag}n" nft -f "$files/$N-$s.nft"
      record reload "nft:$N" "$r" ms "$(ms_since "$t0")"
      printf '  round %d N=%s gatekeeper reload %s ms, nft -f %s ms\n' "$r" "$N" \
        "$(tail -n 2 "$raw" | head -n 1 | cut -d, -f5)" "$(tail -n 1 "$raw" | cut -d, -f5)"
    done
  done

  # Swaps under load: two lists of 10,000 that both allow the client.
  for s in 1 2; do gk_lists "$files/swap-$s.gate" Socket 10000 "$((20 + s))"; done
  "$bin/gk-conn-rate" --netns "${n}c" --target 192.0.2.1:9000 --seconds 0 --warmup 0 \
    --concurrency 16 >"$files/load.json" &
  local load=$!
  t0=$(now_ns)
  for ((r = 1; r <= swaps; r++)); do
    rl_install "$files/swap-$((r % 2 + 1)).gate" "$config"
    "$bin/gatekeeper" reload --runtime-dir "$gk_runtime" >/dev/null
  done
  kill -INT "$load"
  wait "$load" || true
  res=$(<"$files/load.json")
  record swaps "gk:10000" 1 reloads "$swaps"
  record swaps "gk:10000" 1 seconds "$(ms_since "$t0" | awk '{ print $1 / 1000 }')"
  record swaps "gk:10000" 1 connections "$(jq .connections <<<"$res")"
  record swaps "gk:10000" 1 failed "$(jq .failed <<<"$res")"
  echo "  $swaps swaps under load: $res"
  gk_stop "$gk_pid"
}
