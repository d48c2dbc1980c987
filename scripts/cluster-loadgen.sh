#!/usr/bin/env bash
# Loads a cluster of three signaling instances sharing one redis-server (on a private Unix
# socket) with `termmeet-signaling loadgen`, each room's clients spread over the three.
# Usage: scripts/cluster-loadgen.sh [loadgen flags...]   (BIN=path to termmeet-signaling;
# by default target/release's, else target/debug's). Everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/termmeet-signaling}
[ -x "$bin" ] || bin=target/debug/termmeet-signaling
[ -x "$bin" ] || { echo "build it first: cargo build --release -p termmeet-signaling" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing: scripts/setup.sh test installs it" >&2; exit 1; }
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
redis-server --port 0 --save "" --appendonly no --unixsocket "$dir/redis.sock" --dir "$dir" >/dev/null &
pids+=($!); disown
for _ in $(seq 100); do [ -S "$dir/redis.sock" ] && break; sleep 0.05; done
servers=()
server_pids=()
for i in 0 1 2; do
  port=$((42100 + i))
  "$bin" serve --listen "127.0.0.1:$port" --redis "unix://$dir/redis.sock" \
    --max-rooms 100000 --max-conns-per-ip 1000000 --max-new-rooms-per-minute 1000000 \
    --log-level warn >/dev/null &
  pids+=($!); disown
  server_pids+=(--server-pid $!)
  servers+=(--server "ws://127.0.0.1:$port/ws")
done
for i in 0 1 2; do
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$((42100 + i))/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
"$bin" loadgen "${servers[@]}" "${server_pids[@]}" "$@"
