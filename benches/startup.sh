#!/usr/bin/env bash
# Benchmark: start-up. The cc-core agent launches a connector process three times per file
# (cli-version, validate, transfer), so a launch must be quick. Runs red-wasm's CLI 1 command
# and the original `red-connector-http` 1.0 (PyPI, in a virtual environment made here) side by
# side: RUNS (default 30) times each for `cli-version`, `receive-file-validate` and a whole
# 1 KiB `receive-file` from the test server. Prints the mean milliseconds and the ratio. The
# whole-process time of red-wasm's receive bounds its "process start to first byte requested".
source "$(dirname "$0")/common.sh"

runs=${RUNS:-30}

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check red-connector-http==1.0
target/release/red-wasm install-commands "$work/bin" > /dev/null
target/release/red-wasm info http > /dev/null  # the compiled-component cache, as after setup

head -c 1024 /dev/urandom > "$work/one-kib"
start_server "$work/url" target/release/red-wasm-testserver 0 "$work/one-kib" one-kib
base=$(head -n1 "$work/url")
printf '{"url": "%s/files/one-kib"}\n' "$base" > "$work/access.json"

# mean_ms COMMAND...: the mean wall time of RUNS runs, in milliseconds.
mean_ms() {
    local start end
    start=$(date +%s%N)
    for _ in $(seq "$runs"); do "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; done
    end=$(date +%s%N)
    awk -v t=$((end - start)) -v n="$runs" 'BEGIN { printf "%.1f", t / n / 1e6 }'
}

printf '%-22s %14s %14s %8s\n' step "original ms" "red-wasm ms" ratio
for step in cli-version validate receive; do
    case $step in
    cli-version) args=(cli-version) ;;
    validate) args=(receive-file-validate "$work/access.json") ;;
    receive) args=(receive-file "$work/access.json" "$work/out") ;;
    esac
    original=$(mean_ms "$work/venv/bin/red-connector-http" "${args[@]}")
    ours=$(mean_ms "$work/bin/red-connector-http" "${args[@]}")
    if [ "$step" = receive ]; then
        cmp -s "$work/out" "$work/one-kib" || { echo "the 1 KiB file differs"; exit 1; }
    fi
    awk -v s="$step" -v o="$original" -v r="$ours" 'BEGIN { printf "%-22s %14.1f %14.1f %7.1fx\n", s, o, r, o / r }'
done
