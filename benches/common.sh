# Sourced by the benchmark scripts: builds red-wasm, makes a work folder that is removed at
# exit with every server started through `start_server`, and defines `run`.
#
# The work folder is in BENCH_DIR (default: /dev/shm when there is one), so that the figures
# measure the tools rather than the disk's writeback, which on this kind of machine varies by
# 2-3x from one run to the next.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash .ci/deps >/dev/null
# BUILD=static measures the static binary that RED images get; BUILD=both (http.sh, sftp.sh)
# runs the glibc and the static build side by side.
cargo build --release --workspace --bins -q
target_dir=${CARGO_TARGET_DIR:-target}
rw_dir=$target_dir/release
case "${BUILD:-glibc}" in
static | both)
    cargo build --release --workspace --bins -q --target x86_64-unknown-linux-musl
    rw_static=$target_dir/x86_64-unknown-linux-musl/release/red-wasm
    [ "${BUILD}" = static ] && rw_dir=$target_dir/x86_64-unknown-linux-musl/release
    ;;
esac
rw="$rw_dir/red-wasm"

if [ -z "${BENCH_DIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then BENCH_DIR=/dev/shm; fi
work=$(mktemp -d -p "${BENCH_DIR:-${TMPDIR:-/tmp}}")
chmod 755 "$work"
export RED_WASM_CACHE_DIR="$work/cache"
server_pids=()

stop_servers() {
    for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    server_pids=()
}
cleanup() {
    stop_servers
    rm -rf "$work"
}
trap cleanup EXIT

# start_server OUT COMMAND...: runs a test server in the background and waits until it has
# written its first line (its address) to OUT.
start_server() {
    local out=$1
    shift
    : > "$out"
    "$@" > "$out" &
    server_pids+=($!)
    for _ in $(seq 600); do [ -s "$out" ] && return 0; sleep 0.1; done
    echo "the server did not start: $*" >&2
    exit 1
}

# run COMMAND...: runs it once and prints "SECONDS PEAK_RSS_KIB".
run() {
    sync
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null
    cat "$work/time"
}
