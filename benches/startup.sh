#!/usr/bin/env bash
# Benchmark: start-up. The cc-core agent launches a connector process three times per file
# (cli-version, validate, transfer), so a launch must be quick. Runs red-wasm's CLI 1 command
# and the original `red-connector-http` 1.0 (PyPI, in a virtual environment made here) side by
# side: RUNS (default 30) times each for `cli-version`, `receive-file-validate` and a whole
# 1 KiB `receive-file` from the test server, the last also as the user nobody with no HOME after
# install-commands by root (as a RED image runs it). Prints the mean milliseconds and ratios. The
# whole-process time of red-wasm's receive bounds its "process start to first byte requested".
source "$(dirname "$0")/common.sh"

runs=${RUNS:-30}

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check red-connector-http==1.0
"$rw" install-commands "$work/bin" > /dev/null  # precompiles beside the commands, as in an image

head -c 1024 /dev/urandom > "$work/one-kib"
start_server "$work/url" "$rw_dir/red-wasm-testserver" 0 "$work/one-kib" one-kib
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

# As an image runs it: the commands installed by root, launched by an unprivileged user with no
# home and compiling switched off (a launch that would compile fails), through setpriv.
nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups env -i HOME=/nonexistent
    PATH=/usr/bin:/bin RED_WASM_COMPILE=never)
# The same wrapper for root, so that the ratio of the two compares launches, not wrappers.
as_root=(setpriv --reuid=root --regid=root --clear-groups env -i HOME="$HOME"
    PATH=/usr/bin:/bin)
mkdir -m 777 "$work/nobody"

printf '%-22s %14s %14s %8s\n' step "original ms" "red-wasm ms" ratio
for step in cli-version validate receive receive-wrapped receive-as-nobody; do
    prefix=()
    out="$work/out"
    case $step in
    cli-version) args=(cli-version) ;;
    validate) args=(receive-file-validate "$work/access.json") ;;
    receive) args=(receive-file "$work/access.json" "$out") ;;
    receive-wrapped)
        prefix=("${as_root[@]}")
        args=(receive-file "$work/access.json" "$out")
        ;;
    receive-as-nobody)
        prefix=("${nobody[@]}")
        out="$work/nobody/out"
        args=(receive-file "$work/access.json" "$out")
        ;;
    esac
    # The original runs as root throughout: this machine's Python lives under /root, which
    # nobody may not enter (its row compares red-wasm as nobody with the original as root).
    original=$(mean_ms "$work/venv/bin/red-connector-http" "${args[@]}")
    ours=$(mean_ms "${prefix[@]}" "$work/bin/red-connector-http" "${args[@]}")
    case $step in
    receive*) cmp -s "$out" "$work/one-kib" || { echo "the 1 KiB file differs"; exit 1; } ;;
    esac
    [ "$step" = receive-wrapped ] && root_receive=$ours
    [ "$step" = receive-as-nobody ] && nobody_receive=$ours
    awk -v s="$step" -v o="$original" -v r="$ours" 'BEGIN { printf "%-22s %14.1f %14.1f %7.1fx\n", s, o, r, o / r }'
done
awk -v n="$nobody_receive" -v r="$root_receive" \
    'BEGIN { printf "red-wasm receive as nobody (no HOME) / as root, warm, both through setpriv + env: %.2fx (goal <= 1.2x)\n", n / r }'
