#!/usr/bin/env python3
"""The differential test: pvtest's per-check results on pvisor must equal those on Xen 4.17.

Usage: compare_checks.py XEN.checks PVISOR.checks --xfail FILE [--prefix WORD]

Both files hold `pvtest: check <name>: PASS|FAIL (...)` lines (another kernel's first word with
--prefix) (guesttest.py --checks-out).  A
check's outcome (PASS or FAIL, not the detail text) must be the same on both, and every check
must exist on both.  FILE lists the checks pvisor does not pass yet, one name per line, each
with a comment saying what is missing: for those, a difference is expected — and a listed check
that now agrees with Xen fails the test too, so the list only ever shrinks."""
import argparse
import re
import sys

def outcomes(path, prefix):
    check = re.compile(rf"^{re.escape(prefix)}: check (\S+): (PASS|FAIL)")
    out = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        m = check.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("xen")
    ap.add_argument("pvisor")
    ap.add_argument("--xfail", required=True)
    ap.add_argument("--prefix", default="pvtest", help="the first word of the check lines")
    a = ap.parse_args()
    xen, pvisor = outcomes(a.xen, a.prefix), outcomes(a.pvisor, a.prefix)
    xfail = set()
    for line in open(a.xfail, encoding="utf-8"):
        name = line.split("#", 1)[0].strip()
        if name:
            xfail.add(name)
    if not xen:
        sys.exit(f"FAIL: no check lines in {a.xen}")
    if not pvisor:
        sys.exit(f"FAIL: no check lines in {a.pvisor}")
    problems = []
    for name in sorted(set(xen) | set(pvisor)):
        x, p = xen.get(name, "missing"), pvisor.get(name, "missing")
        same = x == p
        if name in xfail:
            if same:
                problems.append(f"{name}: now {p} on both: remove it from {a.xfail}")
        elif not same:
            problems.append(f"{name}: Xen {x}, pvisor {p}")
    for name in sorted(xfail - set(xen) - set(pvisor)):
        problems.append(f"{name}: listed in {a.xfail} but no such check")
    agree = sum(1 for n in xen if xen[n] == pvisor.get(n))
    if problems:
        print("\n".join(problems))
        print(f"FAIL: {a.prefix} differs between Xen and pvisor ({len(problems)} problems; {agree} of {len(xen)} checks agree)")
        return 1
    print(f"PASS: {a.prefix}: {agree} of {len(xen)} checks agree with Xen 4.17; {len(xfail)} known gaps listed in {a.xfail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
