#!/usr/bin/env bash
# Benchmark: the Python example connector next to the Rust one (examples/checksum-*), same run:
# first use (compiling; `red-wasm compile`), a cached CLI run of a 1 KiB receive (mean of RUNS,
# default 30, and peak RSS), and a library call from the compiled cache (benches/authors.rs).
# Goals (issue 14): first use <= 10 s or precompiled at install; cached CLI <= 50 ms and
# <= 48 MiB; library call <= 5 ms.
source "$(dirname "$0")/common.sh"

runs=${RUNS:-30}
python=.ci/.venv-componentize/bin/python
(cd examples/checksum-rust && CARGO_TARGET_DIR="$work/rust-target" cargo build -q --release --target wasm32-wasip2)
cp "$work/rust-target/wasm32-wasip2/release/checksum_rust.wasm" "$work/rust.wasm"
(cd examples/checksum-python && PYTHONPATH="$OLDPWD/connectors/python" "$OLDPWD/$python" -m red_connector build app.py -o "$work/python.wasm" > /dev/null)

head -c 1024 /dev/urandom > "$work/one-kib"
start_server "$work/url" "$rw_dir/red-wasm-testserver" 0 "$work/one-kib" one-kib
base=$(head -n1 "$work/url")
sha=$(sha256sum "$work/one-kib" | cut -d' ' -f1)
printf '{"url": "%s/files/one-kib", "sha256": "%s"}\n' "$base" "$sha" > "$work/access.json"

printf '%-8s %10s %12s %14s %16s %14s\n' example "size MiB" "compile s" "compile MiB" "cached run ms" "run peak MiB"
for lang in rust python; do
    size=$(stat -c %s "$work/$lang.wasm")
    read -r secs kib < <(run "$rw" compile --out "$work/pre-$lang" "$work/$lang.wasm")
    export RED_WASM_PRECOMPILED="$work/pre-$lang" RED_WASM_COMPILE=never
    : > "$work/runs-$lang"
    start=$(date +%s%N)
    for _ in $(seq "$runs"); do
        run "$rw" run "$work/$lang.wasm" "$work/access.json" -o "$work/out" >> "$work/runs-$lang"
    done
    end=$(date +%s%N)
    unset RED_WASM_PRECOMPILED RED_WASM_COMPILE
    cmp -s "$work/out" "$work/one-kib" || { echo "$lang: the 1 KiB file differs"; exit 1; }
    peak=$(cut -d' ' -f2 "$work/runs-$lang" | sort -n | tail -n1)
    awk -v l="$lang" -v z="$size" -v s="$secs" -v k="$kib" -v t=$((end - start)) -v n="$runs" -v p="$peak" 'BEGIN {
        printf "%-8s %10.1f %12.2f %14.0f %16.1f %14.1f\n", l, z / 1048576, s, k / 1024, t / n / 1e6, p / 1024 }'
done
echo "(cached run: wall time per process including /usr/bin/time, precompiled folder, RED_WASM_COMPILE=never)"
AUTHOR_COMPONENTS="rust=$work/rust.wasm python=$work/python.wasm" cargo bench -q --bench authors 2>/dev/null
