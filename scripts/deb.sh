#!/usr/bin/env bash
# Builds the Debian packages of termmeet and termmeet-signaling with cargo-deb (installed
# with `cargo install` when missing) into target/debian/.
#   scripts/deb.sh            from a release build (`make deb`)
#   scripts/deb.sh dev        from the dev-profile programs `make test` already built
# The completions and man pages are made by the programs themselves first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
profile=${1:-release}
cargo=${CARGO:-cargo}

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "deb: installing cargo-deb (once)"
  "$cargo" install cargo-deb --locked --quiet
fi

if [ "$profile" = release ]; then
  "$cargo" build --release --workspace --bins
  bin=target/release
  build=()
else
  bin=target/debug
  [ -x "$bin/termmeet" ] && [ -x "$bin/termmeet-signaling" ] || "$cargo" build --workspace --bins
  build=(--profile dev --no-build)
fi

for program in termmeet termmeet-signaling; do
  assets=target/deb-assets/$program
  rm -rf "$assets"
  mkdir -p "$assets/man"
  "$bin/$program" man "$assets/man" >/dev/null
  "$bin/$program" completions bash >"$assets/$program.bash"
  "$bin/$program" completions zsh >"$assets/_$program"
  "$bin/$program" completions fish >"$assets/$program.fish"
done

mkdir -p target/debian
"$cargo" deb -p termmeet "${build[@]}" --output target/debian/
"$cargo" deb -p termmeet-signaling "${build[@]}" --output target/debian/
ls target/debian/*.deb
