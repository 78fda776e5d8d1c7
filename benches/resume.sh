#!/usr/bin/env bash
# Benchmark: HTTP transfers that survive the network. A 1 GiB file (SIZE_MIB to change) is
# received by red-wasm's http connector from the project's test server on 127.0.0.1:
#   - whole (`/files/`), the reference;
#   - over a link cut every 100 MiB (CUT_MIB; `/cut/N/`: each answer stops after N bytes and
#     closes, Range + If-Range honoured), which red-wasm resumes (goal: within 1.3x of whole);
#   - with the server stating its digest (`/stated/`, Repr-Digest sha-256), checked while the
#     body streams, next to the same answer with --no-digest-check (goal: >= 0.9x).
# ROUNDS (default 3) rounds, alternating, best of each; every result is compared with the
# file. Files live in BENCH_DIR (see common.sh).
#
# RATE (say `RATE=10gbit`; needs root and tc) shapes the loopback to that rate with a token
# bucket for the run, as a real link would be: unshaped, the server, the client and the
# hashing share this machine's cores, and a loopback faster than SHA-256 (about 1.8 GB/s
# with SHA-NI) measures the cores, not the link.
source "$(dirname "$0")/common.sh"
if [ -n "${RATE:-}" ]; then
    tc qdisc replace dev lo root tbf rate "$RATE" burst 4mb latency 50ms
    trap 'tc qdisc del dev lo root 2> /dev/null; cleanup' EXIT
fi

size_mib=${SIZE_MIB:-1024}
cut_mib=${CUT_MIB:-100}
rounds=${ROUNDS:-3}
head -c $((size_mib << 20)) /dev/urandom > "$work/big"
start_server "$work/url" "$rw_dir/red-wasm-testserver" 0 "$work/big" big
base=$(head -n1 "$work/url")
"$rw" info http > /dev/null

declare -A urls=(
    [whole]="$base/files/big"
    [cut]="$base/cut/$((cut_mib << 20))/big"
    [verified]="$base/stated/big"
    [unverified]="$base/stated/big"
)
cases=(whole cut verified unverified)
for c in "${cases[@]}"; do : > "$work/$c"; done
for _ in $(seq "$rounds"); do
    for c in "${cases[@]}"; do
        extra=()
        [ "$c" = unverified ] && extra=(--no-digest-check)
        run "$rw" run http "{\"url\": \"${urls[$c]}\"}" -o "$work/out" "${extra[@]}" >> "$work/$c"
        cmp -s "$work/out" "$work/big" || { echo "$c: the file differs" >&2; exit 1; }
        rm -f "$work/out"
    done
done
best() { cut -d' ' -f1 "$work/$1" | sort -n | head -n1; }
rss() { cut -d' ' -f2 "$work/$1" | sort -n | tail -n1; }
echo "HTTP over loopback${RATE:+ shaped to $RATE}, ${size_mib} MiB, best of $rounds rounds, files in $work"
printf '%-44s %9s %12s %14s\n' case seconds MiB/s "peak RSS KiB"
for c in "${cases[@]}"; do
    s=$(best "$c")
    printf '%-44s %9s %12.0f %14s\n' "$c" "$s" "$(awk -v s="$s" -v m="$size_mib" 'BEGIN { print m / s }')" "$(rss "$c")"
done
awk -v w="$(best whole)" -v c="$(best cut)" -v v="$(best verified)" -v u="$(best unverified)" -v n="$cut_mib" 'BEGIN {
    printf "cut every %d MiB: %.2fx the time of the whole transfer (goal <= 1.3x)\n", n, c / w
    printf "digest checked: %.2fx the throughput without the check (goal >= 0.9x)\n", u / v
}'
