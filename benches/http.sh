#!/usr/bin/env bash
# Benchmark: 1 GiB (SIZE_MIB to change) downloaded and uploaded over loopback HTTP by
# red-wasm's http connector and by curl, side by side in the same run, against the
# project's test server on 127.0.0.1. Prints each tool's throughput, the ratio, and
# red-wasm's peak RSS. Each direction runs ROUNDS times (default 3), alternating tools;
# the best round of each counts. curl runs with "Expect:" cleared, so that it does not wait a
# second for a "100 Continue" that the test server never sends.
# Files live in BENCH_DIR (see common.sh).
source "$(dirname "$0")/common.sh"

size_mib=${SIZE_MIB:-1024}
rounds=${ROUNDS:-3}
bytes=$((size_mib * 1024 * 1024))

start_server "$work/url" target/release/red-wasm-testserver 0
base=$(head -n1 "$work/url")
head -c "$bytes" /dev/urandom > "$work/upload.bin"
# Warm the compiled-component cache so that no round pays for compilation.
target/release/red-wasm info http > /dev/null

best() { sort -n | head -n1; }

declare -A secs rss
for direction in download upload; do
    for tool in curl red-wasm; do : > "$work/$direction-$tool"; done
    for _ in $(seq "$rounds"); do
        if [ "$direction" = download ]; then
            url="$base/generate/$bytes"
            run curl -sS --fail -o "$work/out-curl" "$url" >> "$work/$direction-curl"
            run target/release/red-wasm run http "{\"url\": \"$url\"}" -o "$work/out-rw" >> "$work/$direction-red-wasm"
            [ "$(stat -c %s "$work/out-rw")" = "$bytes" ] || { echo "red-wasm download is short"; exit 1; }
            rm -f "$work/out-curl" "$work/out-rw"
        else
            url="$base/sink/upload.bin"
            run curl -sS --fail -H "Expect:" -T "$work/upload.bin" "$url" >> "$work/$direction-curl"
            run target/release/red-wasm run http "{\"url\": \"$url\", \"method\": \"PUT\"}" --send "$work/upload.bin" >> "$work/$direction-red-wasm"
        fi
    done
    for tool in curl red-wasm; do
        secs[$direction-$tool]=$(cut -d' ' -f1 "$work/$direction-$tool" | best)
        rss[$direction-$tool]=$(cut -d' ' -f2 "$work/$direction-$tool" | sort -n | tail -n1)
    done
done

echo "HTTP over loopback, ${size_mib} MiB, best of $rounds rounds, files in $work"
printf '%-9s %12s %12s %8s %16s\n' direction "curl MiB/s" "red-wasm MiB/s" ratio "red-wasm peak RSS"
for direction in download upload; do
    c=${secs[$direction-curl]}
    r=${secs[$direction-red-wasm]}
    awk -v d="$direction" -v s="$size_mib" -v c="$c" -v r="$r" -v m="${rss[$direction-red-wasm]}" 'BEGIN {
        printf "%-9s %12.0f %14.0f %7.2fx %13.1f MiB\n", d, s / c, s / r, c / r, m / 1024 }'
done
