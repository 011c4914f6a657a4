# `gatekeeper analyze` over this machine's own units (default.target's transaction), against
# `systemd-analyze verify default.target` over the same units as the reference.
analyze_bench() {
  local rounds=$1 r t0
  echo "== analyze: $rounds rounds =="
  for ((r = 1; r <= rounds; r++)); do
    t0=$(now_ns)
    "$bin/gatekeeper" analyze >/dev/null 2>&1 || true  # exit 1 means findings; timed either way
    record analyze gatekeeper "$r" ms "$(ms_since "$t0")"
    t0=$(now_ns)
    systemd-analyze verify default.target >/dev/null 2>&1 || true
    record analyze systemd-analyze "$r" ms "$(ms_since "$t0")"
  done
  "$bin/gatekeeper" analyze --json 2>/dev/null |
    jq -c '{units_loaded, transaction_size, findings: (.findings | length),
            warnings: (.warnings | length)}' >"$out/analyze-summary.json" 2>/dev/null || true
}
