# Turns the raw measurements (BENCH,CONFIG,ROUND,METRIC,VALUE) into one markdown table per
# benchmark and metric: median, min-max, and the ratio to the baseline measured in the same round
# (median and min-max of the per-round ratios). A ratio within 5% of 1, or whose range spans 1,
# is marked as inside this machine's noise. Then, for the connection rate, gatekeeper against the
# other filters of the same rounds: nftables and systemd at the same N, and the pass-everything
# programs.
#   awk -F, -f summarize.awk raw.csv
function baseline(bench, config) {
  if (bench == "rate" || bench == "bulk") return config == "base" ? "" : "base"
  if (bench == "reload") return config ~ /^gk:/ ? "nft:" substr(config, 4) : ""
  if (bench == "analyze") return config == "gatekeeper" ? "systemd-analyze" : ""
  # The programs' own cost at N against the same filter's programs at N = 1.
  if (bench == "prog") return config ~ /^(gk|sd):/ && config !~ /:1$/ ? substr(config, 1, 3) "1" : ""
  return ""
}
function sort_values(arr, n,    i, j, t) {
  for (i = 2; i <= n; i++) {
    t = arr[i]
    for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]
    arr[j + 1] = t
  }
}
# The per-round ratio A/B of one metric: "median (min–max), R rounds", or "" without common rounds.
function pair_ratio(bench, metric, a, b,    i, m, rd, r) {
  m = 0
  for (i = 1; i <= nrounds[bench, metric, a]; i++) {
    rd = rounds[bench, metric, a, i]
    if ((bench, metric, b, rd) in by_round && by_round[bench, metric, b, rd] != 0)
      r[++m] = by_round[bench, metric, a, rd] / by_round[bench, metric, b, rd]
  }
  if (m == 0) return ""
  sort_values(r, m)
  return sprintf("%.3f (%.3f–%.3f), %d rounds", median(r, m), r[1], r[m], m)
}
function median(arr, n) { return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2 }
function fmt(x) {
  if (x == int(x) && x >= 100) return sprintf("%d", x)
  return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.3g", x)
}
{
  key = $1 SUBSEP $4
  if (!(key in seen_table)) { seen_table[key] = 1; tables[++ntables] = key }
  ck = key SUBSEP $2
  if (!(ck in seen_config)) { seen_config[ck] = 1; configs[key, ++nconfigs[key]] = $2 }
  values[ck, ++count[ck]] = $5
  by_round[$1, $4, $2, $3] = $5
  rounds[$1, $4, $2, ++nrounds[$1, $4, $2]] = $3
}
END {
  for (t = 1; t <= ntables; t++) {
    split(tables[t], parts, SUBSEP)
    bench = parts[1]; metric = parts[2]
    printf "\n#### %s: %s\n\n", bench, metric
    printf "| configuration | runs | median | min–max | ratio (median) | ratio min–max | note |\n"
    printf "|---|---:|---:|---:|---:|---:|---|\n"
    for (c = 1; c <= nconfigs[tables[t]]; c++) {
      config = configs[tables[t], c]
      ck = tables[t] SUBSEP config
      n = count[ck]
      delete v
      for (i = 1; i <= n; i++) v[i] = values[ck, i]
      sort_values(v, n)
      base = baseline(bench, config)
      ratio = ""; rrange = ""; note = ""
      if (base != "") {
        delete r
        m = 0
        for (i = 1; i <= nrounds[bench, metric, config]; i++) {
          rd = rounds[bench, metric, config, i]
          if ((bench, metric, base, rd) in by_round && by_round[bench, metric, base, rd] != 0)
            r[++m] = by_round[bench, metric, config, rd] / by_round[bench, metric, base, rd]
        }
        if (m > 0) {
          sort_values(r, m)
          med = median(r, m)
          ratio = sprintf("%.3f", med)
          rrange = sprintf("%.3f–%.3f", r[1], r[m])
          if ((med > 0.95 && med < 1.05) || (r[1] <= 1 && r[m] >= 1)) note = "inside the noise"
          ratio = ratio " (vs " base ")"
        }
      }
      printf "| %s | %d | %s | %s–%s | %s | %s | %s |\n", config, n, fmt(median(v, n)), fmt(v[1]),
             fmt(v[n]), ratio, rrange, note
    }
  }
  key = "rate" SUBSEP "conn_per_s"
  header = 0
  for (c = 1; c <= nconfigs[key]; c++) {
    config = configs[key, c]
    if (config !~ /^gk:/) continue
    vs_nft = pair_ratio("rate", "conn_per_s", config, "nft:" substr(config, 4))
    vs_sd = pair_ratio("rate", "conn_per_s", config, "sd:" substr(config, 4))
    vs_empty = pair_ratio("rate", "conn_per_s", config, "empty")
    if (vs_nft == "" && vs_sd == "" && vs_empty == "") continue
    if (!header++) {
      printf "\n#### rate: gatekeeper against the other filters (per-round ratio)\n\n"
      printf "| configuration | vs nftables at the same N | vs systemd at the same N |"
      printf " vs pass-everything programs (empty) |\n"
      printf "|---|---|---|---|\n"
    }
    printf "| %s | %s | %s | %s |\n", config, vs_nft, vs_sd, vs_empty
  }
}
