#!/usr/bin/env python3
"""The `make run` test: runs scripts/run-qemu.sh as a user would (its serial console on this
process's pipes), waits for domain 0's prompt, creates the hello example, lists it, and powers
the machine off from the prompt.  Each line is typed only once the previous answer appeared.
Passes when every answer came, pvisor powered off and QEMU exited with status 0.

Usage: make_run_default.py RUN_QEMU_SH LOG [TIMEOUT_SECONDS]
"""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

# (what must appear, then what to type)
STEPS = [
    (r"is ready: type", "xl create examples/hello.cfg\r"),
    (r"Hello from hello \(domain 1\)", "xl list\r"),
    (r"^hello +1 +16 +1 ", "poweroff\r"),
    (r"^\(pvisor\) Powering off", None),
]


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    script, log_path = argv[0], argv[1]
    deadline = time.monotonic() + (float(argv[2]) if len(argv) == 3 else 150)
    proc = subprocess.Popen([script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text, pos = "", 0
    with open(log_path, "w") as log:
        for rx, typed in STEPS:
            pattern = re.compile(rx, re.MULTILINE)
            while not (m := pattern.search(text, pos)):
                left = deadline - time.monotonic()
                if left <= 0 or proc.poll() is not None and not select.select([proc.stdout], [], [], 0)[0]:
                    proc.kill()
                    print(f"FAIL: make-run-default: {rx!r} not seen (log {log_path})")
                    return 1
                if select.select([proc.stdout], [], [], min(left, 0.2))[0]:
                    chunk = os.read(proc.stdout.fileno(), 4096).decode(errors="replace").replace("\r", "")
                    text += chunk
                    log.write(chunk)
                    log.flush()
            pos = m.end()
            if typed:
                for ch in typed:  # as a person types: one byte at a time
                    proc.stdin.write(ch.encode())
                    proc.stdin.flush()
                    time.sleep(0.01)
    rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    if rc != 0:
        print(f"FAIL: make-run-default: QEMU exited with status {rc} (log {log_path})")
        return 1
    print(f"PASS: make-run-default: prompt, xl create, xl list, poweroff (log {log_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
