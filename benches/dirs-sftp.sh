#!/usr/bin/env bash
# Benchmark: folders over SFTP (receive-dir and send-dir) on 127.0.0.1, by red-wasm's sftp
# connector (`red-wasm run sftp ACCESS --dir -o DIR`, `--send-dir DIR`), by OpenSSH's sftp
# client in batch mode (`get -r`, `put -r`) and by the Python original, red-connector-ssh 1.3
# (receive-dir, send-dir without a listing), side by side in the same run. Two shapes:
# SMALL_COUNT files of SMALL_KIB KiB (default 1000 x 10 KiB, in 10 folders) and BIG_COUNT
# files of BIG_MIB MiB (default 10 x 100 MiB). ROUNDS (default 3) rounds of each, alternating
# the order of the tools; the best round counts. Prints the times, red-wasm's speed-up over
# each, and every tool's peak RSS; then red-wasm's peak RSS (anonymous memory, sampled every
# 10 ms) with each of MANY_COUNTS (default "1000 10000 30000") files of 1 KiB in 10 folders,
# and its growth per 1000 files, to show whether its memory grows with the file count. TOOLS
# and SHAPES (default "openssh python red-wasm" and "small big") run fewer; MANY_COUNTS=""
# skips the last.
#
# The server is an sshd of its own (root login with a fresh RSA key, which all three tools
# use; internal-sftp), not the test sshd: the Python connector moves folders with SCP, which
# needs a login shell, and the test account has none (and red-connector-ssh takes RSA keys
# only). Files live in BENCH_DIR (see common.sh; /dev/shm by default). Needs root.
#
# The Python connector comes from PYREF (default /work/pyref) when it holds
# red-connector-ssh 1.3, else from a fresh venv (`pip install red-connector-ssh==1.3`).
source "$(dirname "$0")/common.sh"

rounds=${ROUNDS:-3}
small_count=${SMALL_COUNT:-1000}
small_kib=${SMALL_KIB:-10}
big_count=${BIG_COUNT:-10}
big_mib=${BIG_MIB:-100}
read -r -a many_counts <<< "${MANY_COUNTS-1000 10000 30000}"

case $("$rw" info sftp) in *dirPath*) ;; *)
    echo "$rw: its sftp connector has no receive-dir (a stale build?)" >&2
    exit 1 ;;
esac
"$rw" info sftp > /dev/null # warm the compiled-component cache

# The Python original.
pyref=${PYREF:-/work/pyref}
if [ -x "$pyref/bin/red-connector-ssh" ] &&
    [ "$("$pyref/bin/pip" show red-connector-ssh 2> /dev/null | sed -n 's/^Version: //p')" = 1.3 ]; then
    python_ssh=$pyref/bin/red-connector-ssh
else
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q --disable-pip-version-check red-connector-ssh==1.3
    python_ssh=$work/venv/bin/red-connector-ssh
fi

# The server.
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -f "$work/key"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/sshd_config" << EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/key.pub
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers root
Subsystem sftp internal-sftp
MaxStartups 200:30:400
LogLevel ERROR
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2> "$work/sshd.log" &
server_pids+=($!)
for _ in $(seq 100); do [ -s "$work/sshd.pid" ] && break; sleep 0.1; done
[ -s "$work/sshd.pid" ] || { cat "$work/sshd.log" >&2; exit 1; }

access() { # access PATH: the 1.x folder access for PATH, with the key inline
    python3 -c 'import json, sys; print(json.dumps({"host": "127.0.0.1", "port": int(sys.argv[1]),
        "auth": {"username": "root", "privateKey": open(sys.argv[2]).read()},
        "dirPath": sys.argv[3]}))' "$port" "$work/key" "$1"
}
# OPENSSH_CIPHER (e.g. aes128-gcm@openssh.com, which red-wasm prefers) makes OpenSSH use that
# cipher instead of its default, ChaCha20-Poly1305: the same cipher on both sides.
openssh=(sftp -q ${OPENSSH_CIPHER:+-c "$OPENSSH_CIPHER"} -i "$work/key" -P "$port" -o IdentitiesOnly=yes -o IdentityAgent=none
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -b - root@127.0.0.1)

# The data: the remote copy is what downloads fetch, the local one what uploads send.
make_small() { # make_small DIR COUNT KIB
    python3 - "$@" << 'EOF'
import os, sys
root, count, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    folder = os.path.join(root, "d%02d" % (i % 10))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "f%05d.bin" % i), "wb") as f:
        f.write(os.urandom(kib * 1024))
EOF
}
mkdir -p "$work/remote" "$work/local"
make_small "$work/remote/small" "$small_count" "$small_kib"
mkdir -p "$work/remote/big"
case " ${SHAPES:-big} " in *" big "*)
    for i in $(seq "$big_count"); do
        head -c $((big_mib << 20)) /dev/urandom > "$work/remote/big/f$i.bin"
    done ;;
esac
cp -r "$work/remote/small" "$work/remote/big" "$work/local/"
for shape in small big; do access "$work/remote/$shape" > "$work/down-$shape.json"; done
for shape in small big; do access "$work/remote/up-$shape" > "$work/up-$shape.json"; done

read -r -a tools <<< "${TOOLS:-openssh python red-wasm}"
read -r -a shapes <<< "${SHAPES:-small big}"
declare -A secs rss
for shape in "${shapes[@]}"; do
    for direction in receive send; do
        key=$shape-$direction
        for tool in "${tools[@]}"; do : > "$work/$key-$tool"; done
        for round in $(seq "$rounds"); do
            order=("${tools[@]}")
            [ $((round % 2)) -eq 0 ] && order=($(printf '%s\n' "${tools[@]}" | tac))
            for tool in "${order[@]}"; do
                out=$work/out-$shape
                up=$work/remote/up-$shape
                rm -rf "$out" "$up"
                case "$direction-$tool" in
                receive-openssh)
                    echo "get -r $work/remote/$shape $out" > "$work/batch"
                    run "${openssh[@]}" < "$work/batch" >> "$work/$key-$tool" ;;
                receive-python)
                    # LOCALDIR must not exist: the original nests the tree inside one that does.
                    run "$python_ssh" receive-dir "$work/down-$shape.json" "$out" >> "$work/$key-$tool" ;;
                receive-red-wasm)
                    run "$rw" run sftp "$work/down-$shape.json" --dir -o "$out" >> "$work/$key-$tool" ;;
                send-openssh)
                    echo "put -r $work/local/$shape $up" > "$work/batch"
                    run "${openssh[@]}" < "$work/batch" >> "$work/$key-$tool" ;;
                send-python)
                    run "$python_ssh" send-dir "$work/up-$shape.json" "$work/local/$shape" >> "$work/$key-$tool" ;;
                send-red-wasm)
                    run "$rw" run sftp "$work/up-$shape.json" --send-dir "$work/local/$shape" >> "$work/$key-$tool" ;;
                esac
                if [ "$direction" = receive ]; then
                    diff -r -q "$work/remote/$shape" "$out" > /dev/null || { echo "$tool $key differs"; exit 1; }
                else
                    diff -r -q "$work/local/$shape" "$up" > /dev/null || { echo "$tool $key differs"; exit 1; }
                fi
            done
        done
        for tool in "${tools[@]}"; do
            secs[$key-$tool]=$(cut -d' ' -f1 "$work/$key-$tool" | sort -n | head -n1)
            rss[$key-$tool]=$(cut -d' ' -f2 "$work/$key-$tool" | sort -n | tail -n1)
        done
    done
done
rm -rf "$work/out-small" "$work/out-big" "$work/remote/up-small" "$work/remote/up-big"

# Memory against the file count: red-wasm alone, MANY_COUNTS files of 1 KiB. The peak of
# RssAnon (the process's own memory; RssFile is the binary's pages, the same at any count).
peak_anon() { # peak_anon COMMAND...: runs it, prints "SECONDS PEAK_RSSANON_KIB"
    local start pid peak=0 anon
    start=$(date +%s.%N)
    "$@" > /dev/null &
    pid=$!
    while kill -0 "$pid" 2> /dev/null; do
        anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
        [ "${anon:-0}" -gt "$peak" ] && peak=$anon
        sleep 0.01
    done
    wait "$pid"
    awk -v a="$start" -v b="$(date +%s.%N)" -v p="$peak" 'BEGIN { printf "%.2f %d\n", b - a, p }'
}
declare -A many
for count in "${many_counts[@]}"; do
    rm -rf "$work/remote/many" "$work/out-many" "$work/remote/up-many"
    make_small "$work/remote/many" "$count" 1
    access "$work/remote/many" > "$work/down-many.json"
    many[$count-receive]=$(peak_anon "$rw" run sftp "$work/down-many.json" --dir -o "$work/out-many")
    diff -r -q "$work/remote/many" "$work/out-many" > /dev/null || { echo "red-wasm many differs"; exit 1; }
    access "$work/remote/up-many" > "$work/up-many.json"
    many[$count-send]=$(peak_anon "$rw" run sftp "$work/up-many.json" --send-dir "$work/out-many")
    diff -r -q "$work/out-many" "$work/remote/up-many" > /dev/null || { echo "red-wasm many (send) differs"; exit 1; }
done
rm -rf "$work/remote/many" "$work/out-many" "$work/remote/up-many"

for f in "$work"/small-* "$work"/big-*; do
    [ -f "$f" ] && echo "$(basename "$f"): $(tr "\n" " " < "$f")"
done
echo "Folders over SFTP on loopback, best of $rounds rounds (seconds; peak RSS in MiB), files in $work"
printf '%-32s %9s %9s %9s %11s %11s %24s\n' "shape, mode" OpenSSH Python red-wasm "vs OpenSSH" "vs Python" "RSS red-wasm/ssh/py"
for shape in "${shapes[@]}"; do
    case $shape in
    small) label="${small_count} x ${small_kib} KiB" ;;
    big) label="${big_count} x ${big_mib} MiB" ;;
    esac
    for direction in receive send; do
        key=$shape-$direction
        awk -v d="$label $direction-dir" -v o="${secs[$key-openssh]:-0}" -v p="${secs[$key-python]:-0}" \
            -v r="${secs[$key-red-wasm]:-0}" -v mr="${rss[$key-red-wasm]:-0}" -v mo="${rss[$key-openssh]:-0}" \
            -v mp="${rss[$key-python]:-0}" 'BEGIN {
            printf "%-32s %9.2f %9.2f %9.2f %10.2fx %10.2fx %10.1f/%5.1f/%5.1f\n",
                d, o, p, r, (r ? o / r : 0), (r ? p / r : 0), mr / 1024, mo / 1024, mp / 1024 }'
    done
done
[ "${#many_counts[@]}" -gt 0 ] || exit 0
echo "red-wasm against the file count (files of 1 KiB; seconds, peak RssAnon in MiB):"
for direction in receive send; do
    line="  $direction-dir:"
    for count in "${many_counts[@]}"; do
        read -r s kib <<< "${many[$count-$direction]}"
        line+=$(awk -v n="$count" -v s="$s" -v k="$kib" 'BEGIN { printf " %d files %.2f s %.1f MiB;", n, s, k / 1024 }')
    done
    first=${many_counts[0]}
    last=${many_counts[-1]}
    read -r _ first_kib <<< "${many[$first-$direction]}"
    read -r _ last_kib <<< "${many[$last-$direction]}"
    if [ "$last" -gt "$first" ]; then
        line+=$(awk -v a="$first_kib" -v b="$last_kib" -v n=$((last - first)) \
            'BEGIN { printf " growth %.1f KiB per 1000 files", (b - a) * 1000 / n }')
    fi
    echo "$line"
done
