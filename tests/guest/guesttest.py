#!/usr/bin/env python3
"""Boots a guest test kernel under a hypervisor with boottest.py and judges its check lines.

Every argument is boottest.py's (the hypervisor image, its command line, the guest as a
--module, the --expect regexes ...); boottest runs QEMU and checks the serial log.  Then the
guest's own report is read from that log (guest/lib/check.hpp):

    pvtest: check <name>: PASS
    pvtest: check <name>: FAIL (<detail>)
    pvtest: verdict: PASS (<n> checks) | FAIL (<k> of <n> failed)

and checked for consistency: every `pvtest: check` line well formed, names unique, exactly one
verdict, whose counts agree with the lines.  The check lines and the verdict are written, in
order, to --checks-out (also when the run fails), for comparing hypervisors line by line.
With --require-pass every check must pass.  --prefix names the report's first word for kernels
that name themselves otherwise (dom0test).

The last line is `PASS: <name>: ...` or `FAIL: <name>: ...`, as boottest's.
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "boot"))
import boottest  # noqa: E402

def patterns(prefix: str) -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    p = re.escape(prefix)
    return (re.compile(rf"^{p}: check "),
            re.compile(rf"^{p}: check (\S+): (PASS|FAIL \(.*\))$"),
            re.compile(rf"^{p}: verdict: (?:PASS \((\d+) checks\)|FAIL \((\d+) of (\d+) failed\))$"))


def judge(lines: list[str], require_pass: bool, prefix: str = "pvtest") -> tuple[list[str], list[str], str]:
    """Returns the report lines (checks and verdict), the problems found, and a summary."""
    check_prefix, check_line, verdict_line = patterns(prefix)
    report, problems = [], []
    names: dict[str, int] = {}
    failed = 0
    verdicts = []
    for n, line in enumerate(lines, 1):
        if check_prefix.match(line):
            m = check_line.match(line)
            if not m:
                problems.append(f"line {n}: malformed check line: {line!r}")
                continue
            report.append(line)
            if m.group(1) in names:
                problems.append(f"line {n}: check {m.group(1)} repeated (first on line {names[m.group(1)]})")
            names.setdefault(m.group(1), n)
            if m.group(2) != "PASS":
                failed += 1
        elif line.startswith(f"{prefix}: verdict:"):
            report.append(line)
            m = verdict_line.match(line)
            if not m:
                problems.append(f"line {n}: malformed verdict: {line!r}")
            else:
                verdicts.append(m)
    total = len(report) - len(verdicts)
    if not verdicts:
        problems.append("no verdict line (the guest did not finish)")
    elif len(verdicts) > 1:
        problems.append(f"{len(verdicts)} verdict lines")
    else:
        m = verdicts[0]
        if m.group(1) is not None:
            said_failed, said_total = 0, int(m.group(1))
        else:
            said_failed, said_total = int(m.group(2)), int(m.group(3))
        if (said_failed, said_total) != (failed, total):
            problems.append(f"the verdict says {said_failed} of {said_total} failed, "
                            f"the log has {failed} of {total}")
    if total == 0:
        problems.append("no check lines")
    if require_pass and failed:
        bad = [ln for ln in report if check_line.match(ln) and not ln.endswith(": PASS")]
        problems.append(f"{failed} check(s) failed:\n  " + "\n  ".join(bad))
    return report, problems, f"{total} checks, {failed} failed"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                add_help=False)
    p.add_argument("--checks-out", type=Path, required=True, help="where the check lines go")
    p.add_argument("--require-pass", action="store_true", help="fail unless every check passes")
    p.add_argument("--prefix", default="pvtest", help="the first word of the report lines")
    ours, rest = p.parse_known_args(argv)

    # ctest sends SIGTERM when its own TIMEOUT expires: boottest then takes QEMU down.
    signal.signal(signal.SIGTERM, boottest._on_sigterm)
    o = boottest.parse_args(rest)
    status = boottest.run(o)  # prints boottest's own PASS/FAIL line

    log = o.log_dir / f"{o.name}.log"
    lines = boottest.read_log(log).split("\n")
    report, problems, summary = judge(lines, ours.require_pass, ours.prefix)
    ours.checks_out.parent.mkdir(parents=True, exist_ok=True)
    ours.checks_out.write_text("".join(ln + "\n" for ln in report))

    if status != 0:
        print(f"FAIL: {o.name}: the boot test failed ({summary}; check lines in {ours.checks_out})")
        return status
    if problems:
        print("\n".join(problems))
        print(f"FAIL: {o.name}: the guest's report is not as required ({summary}; "
              f"check lines in {ours.checks_out})")
        return 1
    print(f"PASS: {o.name}: {summary}; check lines in {ours.checks_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
