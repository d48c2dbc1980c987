#!/usr/bin/env bash
# Builds the Debian packages from the programs `make test` built (dev profile, so nothing is
# compiled again), installs them on this machine, checks them, and removes them again (also
# on failure): `termmeet --version`, the packaged server started with the packaged config
# on a free port answering /healthz, the man pages and completions in place, and the
# systemd unit passing `systemd-analyze verify` where that tool exists.
# Needs root (dpkg -i); elsewhere it says so and checks nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ "$(id -u)" -ne 0 ]; then
  echo "deb-check: skipped: installing packages needs root"
  exit 0
fi
if dpkg-query -W -f='${Status}' termmeet 2>/dev/null | grep -q "install ok installed" ||
   dpkg-query -W -f='${Status}' termmeet-signaling 2>/dev/null | grep -q "install ok installed"; then
  echo "deb-check: termmeet packages are already installed here; not touching them" >&2
  exit 1
fi

scripts/deb.sh dev
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  dpkg --purge termmeet termmeet-signaling >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

fail() { echo "deb-check: FAILED: $*" >&2; exit 1; }

dpkg -i target/debian/termmeet_*.deb target/debian/termmeet-signaling_*.deb
/usr/bin/termmeet --version | grep -q '^termmeet ' || fail "termmeet --version"
/usr/bin/termmeet-signaling --version | grep -q '^termmeet-signaling ' || fail "termmeet-signaling --version"
for f in /usr/share/man/man1/termmeet.1.gz /usr/share/man/man1/termmeet-join.1.gz \
         /usr/share/man/man1/termmeet-signaling.1.gz \
         /usr/share/bash-completion/completions/termmeet \
         /usr/share/bash-completion/completions/termmeet-signaling \
         /etc/termmeet/signaling.toml /usr/lib/systemd/system/termmeet-signaling.service; do
  [ -e "$f" ] || fail "$f is missing"
done

# The packaged server with the packaged config, on a free port (a flag beats the file).
healthz() {
  # HTTP by hand (bash's /dev/tcp): a fresh machine may have no curl.
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  local status
  read -r -t 5 status <&3 || true
  exec 3<&- 3>&-
  [[ "$status" == *" 200 "* ]]
}
ok=
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  /usr/bin/termmeet-signaling --config /etc/termmeet/signaling.toml --listen "127.0.0.1:$port" \
    >target/deb-check-server.log 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if healthz "$port"; then ok=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || break   # the port was taken: another one
    sleep 0.1
  done
  [ -n "$ok" ] && break
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=
done
[ -n "$ok" ] || fail "the packaged server did not answer /healthz: $(cat target/deb-check-server.log)"
grep -q "127.0.0.1:$port" target/deb-check-server.log || fail "the server did not say where it listens"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=

if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify /usr/lib/systemd/system/termmeet-signaling.service ||
    fail "systemd-analyze verify found problems in the unit"
else
  echo "deb-check: no systemd-analyze here; the unit file was not verified"
fi

dpkg --purge termmeet termmeet-signaling
[ ! -e /usr/bin/termmeet ] && [ ! -e /etc/termmeet/signaling.toml ] || fail "purge left files"
echo "deb-check: the packages install, run and remove cleanly"
