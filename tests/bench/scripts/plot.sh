# The plot: connection rate against N for gatekeeper, nftables, systemd and iptables, with the
# no-filter limit as a line; medians with min-max bars. gnuplot (Debian's gnuplot-nox) draws the PNG.
plot_rate() {
  local png=$1 kind
  for kind in gk nft sd ipt; do
    awk -F, -v k="$kind" '$1 == "rate" && $4 == "conn_per_s" && index($2, k ":") == 1 {
        n = substr($2, length(k) + 2); v[n] = v[n] " " $5 }
      END { for (n in v) print n, v[n] }' "$raw" |
      while read -r n values; do
        tr ' ' '\n' <<<"$values" | sort -g | awk -v n="$n" '{ a[NR] = $1 }
          END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
                print n, m, a[1], a[NR] }'
      done | sort -g >"$out/plot-$kind.dat"
  done
  local base
  base=$(awk -F, '$1 == "rate" && $2 == "base" && $4 == "conn_per_s" { print $5 }' "$raw" |
         sort -g | awk '{ a[NR] = $1 }
           END { if (NR) print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  gnuplot <<GP
set terminal pngcairo size 900,560 font ",11"
set output "$png"
set title "TCP connections per second (connect, 1-byte request and reply, close) over veth"
set xlabel "prefixes in the filter (N)"
set ylabel "connections per second (median, min-max)"
set logscale x
set xrange [0.5:3e6]
set yrange [0:*]
set key bottom left
set grid
plot ${base:-0} with lines lw 2 dt 2 lc rgb "#555555" title "no filter", \
     "$out/plot-gk.dat" using 1:2:3:4 with yerrorlines lw 2 pt 7 title "gatekeeper (LPM trie)", \
     "$out/plot-nft.dat" using 1:2:3:4 with yerrorlines lw 2 pt 5 title "nftables interval set", \
     "$out/plot-sd.dat" using 1:2:3:4 with yerrorlines lw 2 pt 13 title "systemd IPAddressAllow=", \
     "$out/plot-ipt.dat" using 1:2:3:4 with yerrorlines lw 2 pt 9 title "iptables linear chain"
GP
}
