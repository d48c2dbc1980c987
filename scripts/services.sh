#!/usr/bin/env bash
# Starts the services the device tests need, runs a command with them, and stops them.
#   scripts/services.sh COMMAND [ARGS...]
# - PulseAudio with a null sink (vsink) and a null source (vsrc), so cpal and rodio run for
#   real; ALSA's default device goes to it through libasound2-plugins.
# - Xvfb on a free display, for X11 screen capture.
# Chromium is started by the browser tests themselves (through chromedriver).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d "${TMPDIR:-/tmp}/termmeet-services.XXXXXX")
pids=()

cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$state"
}
trap cleanup EXIT INT TERM

# The tests are on this machine even when it was reached over SSH: a client that sees
# SSH_CONNECTION paces its screen for a remote terminal and, with PULSE_SERVER set, opens
# sound as if it came over the network. Tests that run "over SSH" say so themselves.
unset SSH_CONNECTION SSH_CLIENT SSH_TTY

# PulseAudio, as root or not, in a private runtime directory.
if command -v pulseaudio >/dev/null 2>&1; then
  export XDG_RUNTIME_DIR="$state/runtime"
  mkdir -p "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit --use-pid-file=no \
    --system=false -L module-native-protocol-unix \
    -L "module-null-sink sink_name=vsink rate=48000" \
    -L "module-null-source source_name=vsrc rate=48000" \
    -L "module-always-sink" >"$state/pulse.log" 2>&1 &
  pids+=($!)
  export PULSE_SERVER="unix:$XDG_RUNTIME_DIR/pulse/native"
  for _ in $(seq 1 100); do
    if pactl info >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  if pactl info >/dev/null 2>&1; then
    pactl set-default-sink vsink >/dev/null 2>&1 || true
    pactl set-default-source vsrc >/dev/null 2>&1 || true
    export TERMMEET_TEST_PULSE=1
  else
    echo "services: PulseAudio did not start; audio device tests will fail. Its log:" >&2
    cat "$state/pulse.log" >&2 || true
  fi
fi

# Xvfb on the first free display from :91.
if command -v Xvfb >/dev/null 2>&1; then
  for n in $(seq 91 120); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then
      Xvfb ":$n" -screen 0 1280x720x24 -nolisten tcp >"$state/xvfb.log" 2>&1 &
      pids+=($!)
      export DISPLAY=":$n"
      for _ in $(seq 1 100); do
        if [ -e "/tmp/.X11-unix/X$n" ]; then break; fi
        sleep 0.1
      done
      export TERMMEET_TEST_DISPLAY="$DISPLAY"
      break
    fi
  done
fi

cd "$root"
"$@"
