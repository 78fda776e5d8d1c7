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

start_server "$work/url" "$rw_dir/red-wasm-testserver" 0
base=$(head -n1 "$work/url")
head -c "$bytes" /dev/urandom > "$work/upload.bin"
# Warm the compiled-component cache so that no round pays for compilation.
"$rw" info http > /dev/null
# BUILD=both: the static build runs as a third tool (the glibc build is "red-wasm").
tools=(curl red-wasm)
declare -A binary=([red-wasm]="$rw")
if [ "${BUILD:-}" = both ]; then
    tools+=(red-wasm-static)
    binary[red-wasm-static]="$rw_static"
    "$rw_static" info http > /dev/null
fi

best() { sort -n | head -n1; }

declare -A secs rss
for direction in download upload; do
    for tool in "${tools[@]}"; do : > "$work/$direction-$tool"; done
    for _ in $(seq "$rounds"); do
        for tool in "${tools[@]}"; do
            case "$direction-$tool" in
            download-curl)
                run curl -sS --fail -o "$work/out" "$base/generate/$bytes" >> "$work/$direction-$tool" ;;
            upload-curl)
                run curl -sS --fail -H "Expect:" -T "$work/upload.bin" "$base/sink/upload.bin" >> "$work/$direction-$tool" ;;
            download-*)
                run "${binary[$tool]}" run http "{\"url\": \"$base/generate/$bytes\"}" -o "$work/out" >> "$work/$direction-$tool"
                [ "$(stat -c %s "$work/out")" = "$bytes" ] || { echo "$tool download is short"; exit 1; } ;;
            upload-*)
                run "${binary[$tool]}" run http "{\"url\": \"$base/sink/upload.bin\", \"method\": \"PUT\"}" --send "$work/upload.bin" >> "$work/$direction-$tool" ;;
            esac
            rm -f "$work/out"
        done
    done
    for tool in "${tools[@]}"; do
        secs[$direction-$tool]=$(cut -d' ' -f1 "$work/$direction-$tool" | best)
        rss[$direction-$tool]=$(cut -d' ' -f2 "$work/$direction-$tool" | sort -n | tail -n1)
    done
done

echo "HTTP over loopback, ${size_mib} MiB, best of $rounds rounds, files in $work"
printf '%-26s %12s %12s %8s %16s\n' direction "curl MiB/s" "red-wasm MiB/s" ratio "red-wasm peak RSS"
for direction in download upload; do
    c=${secs[$direction-curl]}
    for tool in "${tools[@]:1}"; do
        r=${secs[$direction-$tool]}
        awk -v d="$direction ($tool)" -v s="$size_mib" -v c="$c" -v r="$r" -v m="${rss[$direction-$tool]}" 'BEGIN {
            printf "%-26s %12.0f %14.0f %7.2fx %13.1f MiB\n", d, s / c, s / r, c / r, m / 1024 }'
    done
done
