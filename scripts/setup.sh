#!/usr/bin/env bash
# Installs the system packages termmeet needs, when they are missing.
#   scripts/setup.sh build    compilers and headers to build the workspace
#   scripts/setup.sh test     build + PulseAudio, Xvfb, Chromium, tmux, xterm for the device, browser and terminal tests
#   scripts/setup.sh bench    the same as test
# On Debian and Ubuntu it uses apt-get (as root, or through sudo). Elsewhere it prints
# the list of packages to install by hand and exits non-zero if any is missing.
set -euo pipefail

want=${1:-build}
# libasound2-plugins: ALSA's PulseAudio plugin, through which a client run over SSH reaches
# the laptop's sound (PULSE_SERVER; see the README's "Over SSH").
# libpipewire-0.3-dev and libclang-common-14-dev (clang's own headers, for bindgen): cpal's
# PipeWire host, for machines where PipeWire runs without its PulseAudio service.
build_pkgs=(build-essential pkg-config cmake nasm libasound2-dev libclang1-14 libclang-common-14-dev libpulse-dev libpipewire-0.3-dev libasound2-plugins)
# pipewire, pipewire-bin, wireplumber and dbus-daemon: a native PipeWire server for its test.
# janus: the SFU (VideoRoom plugin, WebSocket transport) the SFU tests start in a namespace.
# xterm, x11-apps (xwd) and fonts-dejavu-core: sixel in a real terminal, captured (sixel_xterm);
# kitty with Mesa's software OpenGL (libgl1, libgl1-mesa-dri): kitty's graphics (kitty_terminal).
# espeak-ng: two synthetic voices, far end and local talker, for the echo test matrix.
# redis-server: the shared state of several signaling instances, started by the cluster tests.
test_pkgs=(xvfb x11-xserver-utils xterm x11-apps fonts-dejavu-core kitty libgl1 libgl1-mesa-dri espeak-ng pulseaudio pulseaudio-utils pipewire pipewire-bin wireplumber dbus-daemon chromium chromium-driver tmux ffmpeg iproute2 nftables coturn openssh-server openssh-client janus redis-server)

pkgs=("${build_pkgs[@]}")
if [ "$want" = test ] || [ "$want" = demo ] || [ "$want" = bench ]; then
  pkgs+=("${test_pkgs[@]}")
fi

# A clean test build takes about 3.5 GB under target/; say so before cargo runs out.
if [ "$want" = test ]; then
  target_dir=$(cd "$(dirname "$0")/.." && pwd)/target
  mkdir -p "$target_dir"
  free_kb=$(df -Pk "$target_dir" 2>/dev/null | awk 'NR == 2 {print $4}')
  if [ -n "$free_kb" ] && [ "$free_kb" -lt 4000000 ]; then
    echo "setup: warning: only $((free_kb / 1024)) MB free for $target_dir; a clean test build needs about 4 GB (free some, or 'cargo clean' an old build)" >&2
  fi
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
else
  echo "setup: not a Debian system; make sure these (or your distribution's equivalents) are installed:" >&2
  echo "  ${pkgs[*]}" >&2
  exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
