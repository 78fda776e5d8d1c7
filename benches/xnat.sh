#!/usr/bin/env bash
# Benchmark: a file of SIZES_MIB (default "100 1024") MiB downloaded and uploaded through the
# xnat connector against the XNAT test server on 127.0.0.1, next to curl making the same
# file request (GET, and PUT ...?inbody=true) with the same credentials. Prints throughput,
# the ratio, and red-wasm's peak RSS for each size: memory must not grow with the file.
# Best of ROUNDS (default 3). Files live in BENCH_DIR (see common.sh).
source "$(dirname "$0")/common.sh"

sizes=${SIZES_MIB:-"100 1024"}
rounds=${ROUNDS:-3}
"$rw" info xnat > /dev/null

user=xnat-user
password=xnat-Pa55-word

printf '%-6s %-9s %11s %15s %8s %18s\n' MiB direction "curl MiB/s" "red-wasm MiB/s" ratio "red-wasm peak RSS"
for size in $sizes; do
    head -c $((size * 1024 * 1024)) /dev/urandom > "$work/data.bin"
    stop_servers
    start_server "$work/url" "$rw_dir/red-wasm-testxnat" "$work/data.bin"
    base=$(head -n1 "$work/url")
    file_url="$base/REST/projects/P1/resources/DATA/files/data.bin"
    up_url="$base/REST/projects/P1/subjects/S1/experiments/E1/scans/1/resources/OTHER/files"
    auth="\"auth\": {\"username\": \"$user\", \"password\": \"$password\"}"
    down="{\"baseUrl\": \"$base\", \"project\": \"P1\", \"resource\": \"DATA\", \"file\": \"data.bin\", $auth}"
    up="{\"baseUrl\": \"$base\", \"project\": \"P1\", \"subject\": \"S1\", \"session\": \"E1\", \"containerType\": \"scans\", \"container\": \"1\", \"file\": \"up.bin\", \"overwriteExistingFile\": true, $auth}"
    for direction in download upload; do
        : > "$work/curl"
        : > "$work/rw"
        for _ in $(seq "$rounds"); do
            if [ "$direction" = download ]; then
                run curl -sS --fail -u "$user:$password" -o "$work/out" "$file_url" >> "$work/curl"
                run "$rw" run xnat "$down" -o "$work/out" >> "$work/rw"
                cmp -s "$work/out" "$work/data.bin" || { echo "xnat download differs"; exit 1; }
                rm -f "$work/out"
            else
                run curl -sS --fail -H "Expect:" -u "$user:$password" -T "$work/data.bin" "$up_url/curl.bin?inbody=true&overwrite=true" >> "$work/curl"
                run "$rw" run xnat "$up" --send "$work/data.bin" >> "$work/rw"
            fi
        done
        c=$(cut -d' ' -f1 "$work/curl" | sort -n | head -n1)
        r=$(cut -d' ' -f1 "$work/rw" | sort -n | head -n1)
        m=$(cut -d' ' -f2 "$work/rw" | sort -n | tail -n1)
        awk -v s="$size" -v d="$direction" -v c="$c" -v r="$r" -v m="$m" 'BEGIN {
            printf "%-6s %-9s %11.0f %15.0f %7.2fx %15.1f MiB\n", s, d, s / c, s / r, c / r, m / 1024 }'
    done
done
