#!/usr/bin/env python3
"""Samples every process's command line while the file STOP exists, and appends those holding one of the lines of
PATTERNS (fixed strings) to OUT, once each; the PIDs given after OUT are not looked at.

  cmdlines.py STOP PATTERNS OUT [PID...]
"""
import os
import sys


def main():
    stop, patterns, out = sys.argv[1:4]
    skip = set(sys.argv[4:]) | {str(os.getpid())}
    with open(patterns, encoding="utf-8") as f:
        needles = [line.rstrip("\n").encode() for line in f if line.strip()]
    seen = set()
    with open(out, "ab") as sink:
        while os.path.exists(stop):
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or pid in skip:
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        line = f.read().replace(b"\0", b" ").strip()
                except OSError:
                    continue
                key = (pid, line)
                if key not in seen and any(n in line for n in needles):
                    seen.add(key)
                    sink.write(line + b"\n")
                    sink.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
