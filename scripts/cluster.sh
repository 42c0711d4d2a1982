#!/usr/bin/env bash
# Two processes of the `twoway` chat linked by Redis, behind nginx: open
# http://localhost:8080/ in two tabs (or more) and they talk, each tab on one process or the
# other (nginx spreads new connections round robin). Runs in the foreground; Ctrl-C stops
# everything it started (by pid). Everything binds 127.0.0.1; the state lives in a temporary
# directory, removed at the end.
#
#   scripts/cluster.sh                 # PORT=8080 by default; REDIS_PORT=6390
#   PORT=8000 scripts/cluster.sh
#
# Needs redis-server and nginx (scripts/install-deps.sh installs Debian's).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8080}
REDIS_PORT=${REDIS_PORT:-6390}
# Process i serves its page and the WebSocket upgrade on `/` of 127.0.0.1:18080+i (and the
# WebSocket alone on 19000+i, for pages written for the original); nginx spreads over the first.
PROCESSES=${PROCESSES:-2}

for tool in redis-server nginx; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done

echo "== building the twoway example"
cargo build --quiet -p jrpc-examples --example twoway
TARGET="${CARGO_TARGET_DIR:-target}"

dir=$(mktemp -d "${TMPDIR:-/tmp}/jrpc-cluster.XXXXXX")
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "== stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
  exit 0
}
trap cleanup INT TERM EXIT

echo "== redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize no --save "" --appendonly no \
  --dir "$dir" >"$dir/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then break; fi
  sleep 0.1
done

upstreams=""
for i in $(seq "$PROCESSES"); do
  http=$((18080 + i)) ws=$((19000 + i))
  echo "== twoway process $i: page and WebSocket on 127.0.0.1:$http"
  JRPC_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/" JRPC_HTTP_PORT=$http JRPC_WS_PORT=$ws \
    JRPC_PUBLIC_WS_PORT=$PORT JRPC_ALLOW_ORIGINS="http://localhost:$PORT,http://127.0.0.1:$PORT" \
    "$TARGET/debug/examples/twoway" > >(sed -u "s/^/[twoway $i] /") 2>&1 &
  pids+=($!)
  upstreams+="    server 127.0.0.1:$http max_fails=1 fail_timeout=2s;"$'\n'
done

# The README's configuration ("Several processes"), with this run's ports and paths (the same
# as jrpc-testsuite's services::nginx_conf, which the tests use).
cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  upstream jrpc {
$upstreams  }
  server {
    listen 127.0.0.1:$PORT;
    location / {
      proxy_pass http://jrpc;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_read_timeout 75s;
      proxy_send_timeout 75s;
    }
  }
}
EOF
echo "== nginx on 127.0.0.1:$PORT"
nginx -p "$dir" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" -g "daemon off;" &
pids+=($!)

echo
echo "   open http://localhost:$PORT/ in two tabs; Ctrl-C stops everything"
echo
wait -n "${pids[@]}" || true
echo "== a process ended by itself (see its lines above); stopping the others"
