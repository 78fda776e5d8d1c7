#!/bin/sh
# Builds {{NAME}} and runs it through red-wasm against `red-wasm serve` on 127.0.0.1: a
# receive and a send, each checked byte for byte. RED_WASM names the red-wasm command.
set -eu
cd "$(dirname "$0")"
red_wasm=${RED_WASM:-red-wasm}
{{BUILD}}
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
echo "hello from {{NAME}}'s test" > "$work/in.txt"
"$red_wasm" serve "$work" > "$work/url" 2>/dev/null &
server=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
base=$(head -n1 "$work/url")
"$red_wasm" run "$wasm" "{\"url\": \"$base/in.txt\"}" -o "$work/out.txt"
cmp "$work/in.txt" "$work/out.txt"
"$red_wasm" run "$wasm" "{\"url\": \"$base/up/sent.txt\"}" --send "$work/in.txt"
cmp "$work/in.txt" "$work/up/sent.txt"
if "$red_wasm" validate "$wasm" '{"url": "ftp://x"}' 2>/dev/null; then
    echo "an ftp URL passed validation" >&2
    exit 1
fi
echo "test: 3 passed, 0 failed"
