# Link-up reaction: gk-link-bench takes a gate's device away and brings it back CYCLES times, in
# each mode (set down and up; deleted and created again), and measures the link event to the gate
# listening, and the `ip link set up` request to the first connection the service answered.
link_reaction() {
  local cycles=$1 mode res
  echo "== link-up reaction: $cycles cycles per mode =="
  for mode in down-up recreate; do
    res=$("$bin/gk-link-bench" --gatekeeper "$bin/gatekeeper" --service "$bin/gk-test-service" \
            --cycles "$cycles" --mode "$mode" --json)
    echo "$res" >"$out/link-$mode.json"
    echo "  $mode: $res"
  done
}
