#!/usr/bin/env bash
# Benchmark: 1 GiB (SIZE_MIB to change) downloaded and uploaded over SFTP to the project's
# test sshd on 127.0.0.1, by red-wasm's sftp connector and by OpenSSH's sftp client in batch
# mode, side by side in the same run. Both log in with the same Ed25519 key and keep their
# default ciphers (OpenSSH: ChaCha20-Poly1305; red-wasm: AES-GCM), unless OPENSSH_CIPHER is
# set. Prints each tool's throughput, the ratio, and red-wasm's peak RSS.
# ROUNDS (default 5) rounds per direction, alternating which tool goes first; the best
# round of each counts, and every round's time is printed.
#
# Local and remote files live in BENCH_DIR (see common.sh). Needs root (sshd and the test
# account; see .ci/deps).
source "$(dirname "$0")/common.sh"

size_mib=${SIZE_MIB:-1024}
rounds=${ROUNDS:-5}
bytes=$((size_mib * 1024 * 1024))

start_server "$work/sshd" "$rw_dir/red-wasm-testsshd"
read -r port key _ < "$work/sshd"

remote="$work/remote"
mkdir "$remote"
chown red-sftp-test: "$remote"
head -c "$bytes" /dev/urandom > "$remote/big.bin"
chown red-sftp-test: "$remote/big.bin"
cp "$remote/big.bin" "$work/upload.bin"

access() { # access PATH: the 1.x access document for PATH, with the key inline
    python3 -c 'import json,sys; print(json.dumps({"host": "127.0.0.1", "port": int(sys.argv[1]),
        "auth": {"username": "red-sftp-test", "privateKey": open(sys.argv[2]).read()},
        "filePath": sys.argv[3]}))' "$port" "$key" "$1"
}
access "$remote/big.bin" > "$work/down.json"
access "$remote/up.bin" > "$work/up.json"
# OPENSSH_CIPHER (e.g. aes128-gcm@openssh.com, which red-wasm prefers) makes OpenSSH use that
# cipher instead of its default, ChaCha20-Poly1305: the same cipher on both sides.
openssh=(sftp -q ${OPENSSH_CIPHER:+-c "$OPENSSH_CIPHER"} -i "$key" -P "$port" -o IdentitiesOnly=yes -o IdentityAgent=none
         -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
         -b - red-sftp-test@127.0.0.1)
"$rw" info sftp > /dev/null  # warm the compiled-component cache
# BUILD=both: the static build runs as a third tool (the glibc build is "red-wasm").
tools=(openssh red-wasm)
declare -A binary=([red-wasm]="$rw")
if [ "${BUILD:-}" = both ]; then
    tools+=(red-wasm-static)
    binary[red-wasm-static]="$rw_static"
    "$rw_static" info sftp > /dev/null
fi

declare -A secs rss
for direction in download upload; do
    for tool in "${tools[@]}"; do : > "$work/$direction-$tool"; done
    for round in $(seq "$rounds"); do
        # Alternate the order, so that no tool always runs on a warmer machine.
        order=("${tools[@]}")
        [ $((round % 2)) -eq 0 ] && order=($(printf '%s\n' "${tools[@]}" | tac))
        for tool in "${order[@]}"; do
            case "$direction-$tool" in
            download-openssh)
                echo "get $remote/big.bin $work/out" > "$work/batch"
                run "${openssh[@]}" < "$work/batch" >> "$work/$direction-$tool" ;;
            download-*)
                run "${binary[$tool]}" run sftp "$work/down.json" -o "$work/out" >> "$work/$direction-$tool"
                cmp -s "$work/out" "$remote/big.bin" || { echo "$tool download differs"; exit 1; } ;;
            upload-openssh)
                echo "put $work/upload.bin $remote/up.bin" > "$work/batch"
                run "${openssh[@]}" < "$work/batch" >> "$work/$direction-$tool" ;;
            upload-*)
                run "${binary[$tool]}" run sftp "$work/up.json" --send "$work/upload.bin" >> "$work/$direction-$tool"
                cmp -s "$remote/up.bin" "$work/upload.bin" || { echo "$tool upload differs"; exit 1; } ;;
            esac
            rm -f "$work/out" "$remote/up.bin"
        done
    done
    for tool in "${tools[@]}"; do
        secs[$direction-$tool]=$(cut -d' ' -f1 "$work/$direction-$tool" | sort -n | head -n1)
        rss[$direction-$tool]=$(cut -d' ' -f2 "$work/$direction-$tool" | sort -n | tail -n1)
    done
done

for f in "$work"/download-* "$work"/upload-*; do echo "$(basename "$f"): $(tr "\n" " " < "$f")"; done
echo "SFTP over loopback, ${size_mib} MiB, best of $rounds rounds, files in $work"
printf '%-26s %14s %15s %8s %18s\n' direction "OpenSSH MiB/s" "red-wasm MiB/s" ratio "red-wasm peak RSS"
for direction in download upload; do
    for tool in "${tools[@]:1}"; do
        awk -v d="$direction ($tool)" -v s="$size_mib" -v c="${secs[$direction-openssh]}" \
            -v r="${secs[$direction-$tool]}" -v m="${rss[$direction-$tool]}" 'BEGIN {
            printf "%-26s %14.0f %15.0f %7.2fx %15.1f MiB\n", d, s / c, s / r, c / r, m / 1024 }'
    done
done
