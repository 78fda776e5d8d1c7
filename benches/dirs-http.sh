#!/usr/bin/env bash
# Benchmark: folders over HTTP (receive-dir). Two shapes, 1000 files of 10 KiB (SMALL_FILES to
# change) and 10 files of 100 MiB (BIG_MIB to change), served by nginx on 127.0.0.1 from
# BENCH_DIR, received by red-wasm's CLI 1 commands (red-connector-http with a RED listing;
# red-connector-http-archive from a .tar.gz of the same tree) next to the originals
# (red-connector-http 1.0 from PyPI, in a virtual environment made here) in the same run, best
# of ROUNDS (default 3), alternating tools. Prints seconds, ratios and peak RSS, and checks
# every received tree against the source.
source "$(dirname "$0")/common.sh"

rounds=${ROUNDS:-3}
small=${SMALL_FILES:-1000}
big_mib=${BIG_MIB:-100}

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check red-connector-http==1.0
"$rw" install-commands "$work/bin" > /dev/null

# The two trees, their listings and their archives.
mkdir -p "$work/www/small" "$work/www/big"
for i in $(seq "$small"); do
    d="$work/www/small/d$((i % 10))"
    mkdir -p "$d"
    head -c 10240 /dev/urandom > "$d/f$i"
done
for i in $(seq 10); do head -c $((big_mib << 20)) /dev/urandom > "$work/www/big/f$i"; done
listing() {
    python3 - "$1" <<'EOF'
import json, os, sys
def walk(path):
    out = []
    for name in sorted(os.listdir(path)):
        p = os.path.join(path, name)
        if os.path.isdir(p):
            out.append({"class": "Directory", "basename": name, "listing": walk(p)})
        else:
            out.append({"class": "File", "basename": name})
    return out
print(json.dumps(walk(sys.argv[1])))
EOF
}
for shape in small big; do
    listing "$work/www/$shape" > "$work/$shape.listing.json"
    tar czf "$work/www/$shape.tar.gz" -C "$work/www/$shape" .
done

# nginx on a free port, serving the trees.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server { listen 127.0.0.1:$port; root $work/www; }
}
EOF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
server_pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/small.tar.gz" && break; sleep 0.1; done

best() { sort -n | head -n1; }
tools=(python red-wasm)
declare -A secs rss
for shape in small big; do
    for mode in listing archive; do
        printf '{"url": "http://127.0.0.1:%s/%s"}\n' "$port" "$shape" > "$work/access-listing.json"
        printf '{"url": "http://127.0.0.1:%s/%s.tar.gz", "archiveFormat": "gztar"}\n' "$port" "$shape" > "$work/access-archive.json"
        for tool in "${tools[@]}"; do : > "$work/$shape-$mode-$tool"; done
        for _ in $(seq "$rounds"); do
            for tool in "${tools[@]}"; do
                rm -rf "$work/out"
                mkdir "$work/out"  # as RED's agent does
                case "$tool-$mode" in
                python-listing) cmd=("$work/venv/bin/red-connector-http") ;;
                python-archive) cmd=("$work/venv/bin/red-connector-http-archive") ;;
                red-wasm-listing) cmd=("$work/bin/red-connector-http") ;;
                red-wasm-archive) cmd=("$work/bin/red-connector-http-archive") ;;
                esac
                run "${cmd[@]}" receive-dir "$work/access-$mode.json" "$work/out" \
                    "--listing=$work/$shape.listing.json" >> "$work/$shape-$mode-$tool"
                diff -r "$work/www/$shape" "$work/out" > /dev/null ||
                    { echo "$tool $mode $shape: the tree differs" >&2; exit 1; }
            done
        done
        for tool in "${tools[@]}"; do
            secs[$shape-$mode-$tool]=$(cut -d' ' -f1 "$work/$shape-$mode-$tool" | best)
            rss[$shape-$mode-$tool]=$(cut -d' ' -f2 "$work/$shape-$mode-$tool" | sort -n | tail -n1)
        done
    done
done

echo "receive-dir over HTTP (nginx on loopback), best of $rounds rounds, files in $work"
printf '%-34s %10s %10s %8s %14s %14s\n' case "python s" "red-wasm s" ratio "python RSS" "red-wasm RSS"
for shape in small big; do
    label=$([ "$shape" = small ] && echo "$small x 10 KiB" || echo "10 x $big_mib MiB")
    for mode in listing archive; do
        p=${secs[$shape-$mode-python]}
        r=${secs[$shape-$mode-red-wasm]}
        printf '%-34s %10s %10s %7.1fx %11s KiB %11s KiB\n' "$label, $mode" "$p" "$r" \
            "$(awk -v p="$p" -v r="$r" 'BEGIN { print (r > 0 ? p / r : 0) }')" \
            "${rss[$shape-$mode-python]}" "${rss[$shape-$mode-red-wasm]}"
    done
done
