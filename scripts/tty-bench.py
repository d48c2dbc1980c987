#!/usr/bin/env python3
# Runs `termmeet demo` (release build) in a pseudo-terminal of a given size and colour mode, plays the
# terminal (answers position and attribute queries as it reads them, at an optional drain
# rate), and reports bytes a second, frames a second (from the log) and, with --key, the
# time from `?` to the help overlay's last line.
import fcntl, os, pty, re, select, struct, sys, termios, time

cols, rows = int(sys.argv[1]), int(sys.argv[2])
colors = sys.argv[3]            # truecolor or 256
drain = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0   # bytes/s, 0 = unlimited
binary = os.environ.get("TERMMEET", "./target/release/termmeet")
log = f"/tmp/ttybench-{os.getpid()}.log"

pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm-256color"
    os.environ.pop("COLORTERM", None)
    os.environ.pop("SSH_CONNECTION", None)
    args = [binary, "demo", "--log-file", log, "--camera", "none", "--mic", "none", "--speaker", "none", "--colors", colors]
    os.execv(binary, args)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
os.kill(pid, 28)  # SIGWINCH

def pump(seconds, want=None):
    """Reads for `seconds`; returns (bytes, time `want` was first seen)."""
    total, seen, tail = 0, None, b""
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if not r:
            continue
        try:
            data = os.read(fd, 1000 if drain else 65536)
        except OSError:
            break
        now = time.time()
        total += len(data)
        window = tail + data
        for _ in range(window.count(b"\x1b[6n") - tail.count(b"\x1b[6n")):
            os.write(fd, b"\x1b[1;1R")
        if window.count(b"\x1b[c") > tail.count(b"\x1b[c"):
            os.write(fd, b"\x1b[?62;22c")
        if want and seen is None and want in window:
            seen = now
        tail = window[-16:]
        if drain:
            time.sleep(len(data) / drain)
    return total, seen

pump(8)                       # the demo's participants join and send video
n, _ = pump(10)
rate = n / 10
press = time.time()
os.write(fd, b"?")
_, shown = pump(3, b"Ctrl-C")
os.write(fd, b"\x1b")
pump(0.5)
os.write(fd, b"q"); pump(0.3); os.write(fd, b"y"); pump(2)
try:
    os.kill(pid, 9)
except OSError:
    pass
fps = [float(m) for m in re.findall(r"; ([0-9.]+) fps;", open(log).read())][-10:]
os.remove(log)
key = f"{(shown - press) * 1000:.0f} ms" if shown else "not seen"
print(f"{cols}x{rows} {colors} drain={drain or 'unlimited'}: {rate / 1000:.1f} kB/s, "
      f"{sum(fps) / max(len(fps), 1):.1f} fps drawn, ? to help {key}")
