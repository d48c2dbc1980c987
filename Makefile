# termmeet: one command runs a meeting, one runs every test.
#   make demo    a meeting on this machine: embedded server, two synthetic participants and you
#   make test    formatting, lints and every test, with PulseAudio and Xvfb started for them
#   make bench   the benchmarks behind BENCHMARKS.md
#   make man     man pages of both programs into target/man
#   make deb     Debian packages of both programs into target/debian (cargo-deb)
# Each target first installs the system packages it needs (Debian: apt-get) when missing.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# One clean build per run: incremental state would only take disk (~2 GB) and time.
export CARGO_INCREMENTAL ?= 0

.PHONY: demo test bench setup-build setup-test setup-bench fmt lint server man deb deb-check

setup-build:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

setup-bench:
	@scripts/setup.sh bench

demo: setup-build
	$(CARGO) run --release --bin termmeet -- demo

server: setup-build
	$(CARGO) run --release --bin termmeet-signaling

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: setup-test fmt lint
	scripts/services.sh scripts/run-tests.sh
	scripts/deb-check.sh

bench: setup-bench
	$(CARGO) build --release --workspace --bins
	./target/release/termmeet-signaling loadgen --connections 5000 --rooms 1000 --rate 2000 --duration 20s
	./target/release/termmeet bench-call --participants 2 --size 640x480 --fps 30 --bitrate-kbps 1000 --seconds 15
	./target/release/termmeet bench-call --participants 4 --size 320x240 --fps 15 --bitrate-kbps 300 --seconds 15
	scripts/services.sh $(CARGO) bench --workspace
	$(CARGO) test --test it sfu::mesh_against_sfu -- --ignored --nocapture
	@echo "terminal bytes a second of the demo: run 'termmeet demo' at 160x48 and read the status bar"

man: setup-build
	$(CARGO) build --release --workspace --bins
	./target/release/termmeet man target/man
	./target/release/termmeet-signaling man target/man

deb: setup-build
	scripts/deb.sh

# The packages from the programs the tests built: install, run, remove (root; part of test).
deb-check: setup-build
	scripts/deb-check.sh
