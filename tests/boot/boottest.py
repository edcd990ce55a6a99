#!/usr/bin/env python3
"""Runs one QEMU boot test of pvisor and judges it by its serial log and QEMU's exit status.

The hypervisor boots under TCG, its COM1 goes to a log file, and the test passes when every
--expect regex appears in the log in the given order, no --expect-not regex appears anywhere,
and QEMU ends the way the test says: it exits with --exit-status (0 by default: ACPI power-off,
or a reset under -no-reboot), or with --halted it is still running one second after the last
expectation and is then quit through the HMP monitor.  --check-wx reads `info tlb` on every CPU
before quitting and fails on any mapping that is writable and executable.

Every run is bounded by --timeout: a hung boot is killed and reported, never left to hang CI.
--send REGEX TEXT types TEXT into the serial line once REGEX has appeared in the log (after the
previous --send's match), in order; TEXT takes Python escapes (\\x01 is Ctrl-A, \\r Enter).
The serial port is then a pair of FIFOs beside the log (QEMU's pipe chardev, <name>.serial.in
and .out); a thread copies what QEMU writes into the log.
--clock REGEX1 REGEX2 TOLERANCE checks a guest's clock against the host's: REGEX1 and REGEX2
each capture the guest's time in seconds (e.g. from /proc/uptime) in their first group; between
the first line matching REGEX1 and the next matching REGEX2, the guest's time must advance by the
host's time between the two lines' arrival (each line is timestamped as it arrives on the serial
FIFO) within TOLERANCE (a fraction: 0.1 is 10%).  Both sides include the same printing delays,
so a slow host makes both longer alike.
--idle REGEX1 REGEX2 MAX checks that an idle guest leaves the host idle: between the first line
matching REGEX1 and the next matching REGEX2, QEMU's CPU time (all its threads, from /proc) is at
most MAX of the host's time (a fraction of one host CPU).  A vCPU that blocks when idle costs
QEMU nothing; one that spins keeps a host CPU busy.

On failure the serial log (and QEMU's own stderr) are printed with their paths.  The last line
is always `PASS: <name>: ...` or `FAIL: <name>: ...`.

Examples:
  boottest.py --name smp2 --elf build/pvisor.elf --smp 2 --append "console=com1" \\
      --expect 'Brought up 2 CPUs' --expect 'Powering off'
  boottest.py --name wx --elf build/pvisor.elf --append noreboot \\
      --expect "Halting \\('noreboot' specified\\)" --halted --check-wx
"""
from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

POLL = 0.05          # seconds between looks at the serial log
DRAIN_QUIET = 0.3    # seconds of silence on the serial FIFO that mean QEMU's output is all read
HALT_GRACE = 1.0     # --halted: QEMU must still run this long after the last expectation
QUIT_GRACE = 10.0    # seconds QEMU gets to exit after `quit` before it is killed
LOG_TAIL = 400       # lines of serial log printed on failure

# One line of QEMU's x86 `info tlb` (target/i386/monitor.c, print_pte): the canonical linear
# address, the physical address, then nine flag letters of the *leaf* entry, each '-' when clear:
#   X  NX set (NOT executable)   G global   P large page   D dirty   A accessed
#   C  PCD   T  PWT   U  user   W  writable
# So a mapping is writable and executable when it has 'W' and lacks 'X'.  Only the leaf's bits
# are shown: a leaf that is W and not NX under an NX or read-only upper level is reported here
# although the CPU would not allow it.  That errs on the strict side, which is what we want.
TLB_LINE = re.compile(r"^([0-9a-f]{8,16}): ([0-9a-f]{8,16}) ([-X][-G][-P][-D][-A][-C][-T][-U][-W])\s*$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
PROMPT = "(qemu) "


class Fail(Exception):
    """The test failed for the reason given."""


@dataclass
class Options:
    name: str
    elf: Path | None
    iso: Path | None
    smp: int
    mem: int
    append: str | None
    modules: list[str]
    expects: list[str]
    expect_nots: list[str]
    exit_status: int
    timeout: float
    halted: bool
    check_wx: bool
    machine: str | None
    log_dir: Path
    qemu: str
    extra: list[str] = field(default_factory=list)
    sends: list[tuple[str, bytes]] = field(default_factory=list)
    clocks: list[ClockCheck] = field(default_factory=list)
    idles: list[IdleCheck] = field(default_factory=list)


@dataclass
class ClockCheck:
    """--clock: from the first line matching start to the next matching end, the guest's seconds
    (each regex's first group) advance by the host's seconds within tolerance (a fraction)."""
    start: str
    end: str
    tolerance: float


@dataclass
class IdleCheck:
    """--idle: from the first line matching start to the next matching end, QEMU uses at most
    max_cpu host CPU seconds per host second."""
    start: str
    end: str
    max_cpu: float


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    img = p.add_mutually_exclusive_group(required=True)
    img.add_argument("--elf", type=Path, help="Multiboot1 image booted with QEMU -kernel")
    img.add_argument("--iso", type=Path, help="GRUB ISO (Multiboot2) booted from the CD-ROM")
    p.add_argument("--name", help="test name; names the log files (default: from the image)")
    p.add_argument("--smp", type=int, default=1)
    p.add_argument("--mem", type=int, default=512, help="guest RAM in MiB")
    p.add_argument("--append", help="hypervisor command line (QEMU -append; --elf only)")
    p.add_argument("--module", action="append", default=[], metavar='"FILE ARGS"',
                   help="a Multiboot module and its command line (repeatable; --elf only)")
    p.add_argument("--expect", action="append", default=[], metavar="REGEX",
                   help="must appear in the serial log, after the previous --expect (repeatable)")
    p.add_argument("--expect-not", action="append", default=[], metavar="REGEX",
                   help="must not appear anywhere in the serial log (repeatable)")
    p.add_argument("--send", action="append", nargs=2, default=[], metavar=("REGEX", "TEXT"),
                   help="type TEXT (Python escapes) into the serial line once REGEX is in the log (repeatable)")
    p.add_argument("--clock", action="append", nargs=3, default=[], metavar=("REGEX1", "REGEX2", "TOLERANCE"),
                   help="the guest's seconds captured by REGEX1 and REGEX2 advance by the host's time "
                        "between those lines within TOLERANCE, a fraction (repeatable)")
    p.add_argument("--idle", action="append", nargs=3, default=[], metavar=("REGEX1", "REGEX2", "MAX"),
                   help="between those lines QEMU's CPU time is at most MAX of the host's time (repeatable)")
    p.add_argument("--exit-status", type=int, default=0, help="QEMU's expected exit status")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before QEMU is killed")
    p.add_argument("--halted", action="store_true",
                   help="the last --expect marks where the machine halts: it must still run 1 s later; "
                        "then the monitor quits it")
    p.add_argument("--check-wx", action="store_true",
                   help="with --halted: fail if `info tlb` shows a writable and executable mapping")
    p.add_argument("--machine", help="QEMU -machine value (default: QEMU's default, pc)")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="where the logs go (default: build/tests/boot under the current directory)")
    p.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    p.add_argument("extra", nargs="*", help="after --: extra QEMU arguments")
    a = p.parse_args(argv)

    if a.iso and (a.append is not None or a.module):
        p.error("--append and --module apply to --elf only (the ISO's grub.cfg sets the command line)")
    if a.check_wx and not a.halted:
        p.error("--check-wx needs --halted (the page tables are read from a halted machine)")
    if a.halted and not a.expect:
        p.error("--halted needs at least one --expect (the point after which the machine stays halted)")
    if a.smp < 1 or a.mem < 1 or a.timeout <= 0:
        p.error("--smp, --mem and --timeout must be positive")
    sends = []
    for rx, text in a.send:
        try:
            sends.append((rx, text.encode("latin-1").decode("unicode_escape").encode("latin-1")))
        except UnicodeError as e:
            p.error(f"bad --send text {q(text)}: {e}")
    def spans(opt: str, triples: list[list[str]], kind: type) -> list:
        """--clock and --idle: two regexes and a number each."""
        out = []
        for rx1, rx2, number in triples:
            try:
                out.append(kind(rx1, rx2, float(number)))
            except ValueError:
                p.error(f"{opt}: {number!r} is not a number")
        return out
    clocks: list[ClockCheck] = spans("--clock", a.clock, ClockCheck)
    idles: list[IdleCheck] = spans("--idle", a.idle, IdleCheck)
    for rx in a.expect + a.expect_not + [rx for rx, _ in a.send] + [c.start for c in clocks] \
            + [c.end for c in clocks] + [i.start for i in idles] + [i.end for i in idles]:
        try:
            re.compile(rx)
        except re.error as e:
            p.error(f"bad regex {q(rx)}: {e}")
    for c in clocks:
        if re.compile(c.start).groups < 1 or re.compile(c.end).groups < 1:
            p.error(f"--clock regexes need a group capturing the guest's seconds: {q(c.start)} {q(c.end)}")
    image = a.elf or a.iso
    name = a.name or image.stem
    log_dir = a.log_dir or Path("build/tests/boot")
    return Options(name=name, elf=a.elf, iso=a.iso, smp=a.smp, mem=a.mem, append=a.append,
                   modules=a.module, expects=a.expect, expect_nots=a.expect_not,
                   exit_status=a.exit_status, timeout=a.timeout, halted=a.halted,
                   check_wx=a.check_wx, machine=a.machine, log_dir=log_dir, qemu=a.qemu,
                   extra=a.extra, sends=sends, clocks=clocks, idles=idles)


def qemu_command(o: Options, serial_log: Path, monitor_sock: Path, serial_pipe: Path | None = None) -> list[str]:
    serial = ["-serial", f"file:{serial_log}"] if serial_pipe is None else ["-serial", f"pipe:{serial_pipe}"]
    cmd = [o.qemu, "-accel", "tcg", "-cpu", "max", "-m", str(o.mem), "-smp", str(o.smp),
           "-display", "none", "-no-reboot", "-nic", "none", *serial,
           "-monitor", f"unix:{monitor_sock},server,nowait"]
    if o.machine:
        cmd += ["-machine", o.machine]
    if o.elf:
        cmd += ["-kernel", str(o.elf)]
        if o.append is not None:
            cmd += ["-append", o.append]
        if o.modules:
            # QEMU splits -initrd at ',' (',,' is a literal comma); each entry is "file args".
            cmd += ["-initrd", ",".join(m.replace(",", ",,") for m in o.modules)]
    else:
        cmd += ["-cdrom", str(o.iso), "-boot", "d"]
    return cmd + o.extra


# ---------------------------------------------------------------------------------------------
# The serial log.

def q(rx: str) -> str:
    """A regex quoted for a message, backslashes as written (repr() would double them)."""
    return f"'{rx}'"


def read_log(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return ANSI.sub("", text)  # GRUB's menu paints the serial terminal with escape sequences


def match_expectations(text: str, expects: list[str]) -> tuple[int, int]:
    """Returns how many --expect regexes matched in order, and where the last match ended."""
    pos = 0
    for i, rx in enumerate(expects):
        m = re.compile(rx, re.MULTILINE).search(text, pos)
        if not m:
            return i, pos
        pos = m.end()
    return len(expects), pos


def forbidden(text: str, expect_nots: list[str]) -> str | None:
    for rx in expect_nots:
        m = re.search(rx, text, re.MULTILINE)
        if m:
            line = text.count("\n", 0, m.start()) + 1
            return f"--expect-not {q(rx)} matched at line {line}: {m.group(0)!r}"
    return None


def describe_missing(text: str, expects: list[str], matched: int, pos: int) -> str:
    rx = expects[matched]
    line = text.count("\n", 0, pos) + 1
    where = "in the log" if matched == 0 else f"after {q(expects[matched - 1])} (matched on line {line})"
    anywhere = re.search(rx, text, re.MULTILINE)
    hint = " (it does appear earlier, out of order)" if anywhere and matched else ""
    return f"expected {q(rx)} {where}, not found{hint}"


# ---------------------------------------------------------------------------------------------
# The HMP monitor, over its unix socket.

class Monitor:
    def __init__(self, path: Path, deadline: float, transcript: Path):
        self.deadline = deadline
        self.transcript = transcript.open("w", encoding="utf-8")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise Fail(f"could not connect to the QEMU monitor at {path}")
                time.sleep(POLL)
        self._read_until_prompt()  # the greeting

    def _read_until_prompt(self) -> str:
        buf = bytearray()
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Fail("timed out waiting for the QEMU monitor")
            self.sock.settimeout(min(left, 5.0))
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                raise Fail("the QEMU monitor closed its socket")
            buf += chunk
            if buf.endswith(PROMPT.encode()):
                text = ANSI.sub("", buf.decode("utf-8", errors="replace")).replace("\r", "")
                self.transcript.write(text)
                self.transcript.flush()
                return text[: -len(PROMPT)]

    def command(self, cmd: str) -> list[str]:
        """Runs an HMP command and returns its output lines (the echoed command removed)."""
        self.sock.sendall(cmd.encode() + b"\n")
        out = self._read_until_prompt()
        lines = out.split("\n")
        # QEMU's readline echoes what we typed; it ends with the first newline.
        if lines and cmd in lines[0]:
            lines = lines[1:]
        return [ln for ln in lines if ln.strip()]

    def quit(self) -> None:
        """Sends `quit` and waits for QEMU to drop the connection.  Closing our end at once can
        make QEMU see the hang-up before it reads the command, and then it never quits."""
        try:
            self.sock.sendall(b"quit\n")
            end = time.monotonic() + QUIT_GRACE
            while time.monotonic() < end:
                self.sock.settimeout(max(0.1, end - time.monotonic()))
                if not self.sock.recv(4096):
                    break
        except OSError:
            pass  # reset or timeout: the process wait below decides

    def close(self) -> None:
        self.sock.close()
        self.transcript.close()


def cpu_indexes(mon: Monitor) -> list[int]:
    cpus = []
    for ln in mon.command("info cpus"):
        m = re.match(r"^[* ]\s*CPU #(\d+):", ln)
        if m:
            cpus.append(int(m.group(1)))
    return cpus or [0]


def check_wx(mon: Monitor, name: str, log_dir: Path) -> str:
    """Reads `info tlb` on every CPU; fails on W+X mappings or on an empty dump."""
    report = []
    bad: list[str] = []
    checked = 0
    unpaged = []
    for cpu in cpu_indexes(mon):
        mon.command(f"cpu {cpu}")
        lines = mon.command("info tlb")
        (log_dir / f"{name}.tlb-cpu{cpu}.txt").write_text("\n".join(lines) + "\n")
        entries = [TLB_LINE.match(ln) for ln in lines]
        entries = [e for e in entries if e]
        if not entries:
            if any("PG disabled" in ln for ln in lines) and cpu != 0:
                unpaged.append(cpu)  # e.g. an AP left in wait-for-SIPI by maxcpus=/nosmp
                continue
            shown = "; ".join(lines[:3]) or "nothing"
            raise Fail(f"`info tlb` on CPU {cpu} listed no mappings (it printed: {shown})")
        for e in entries:
            flags = e.group(3)
            if flags[8] == "W" and flags[0] != "X":
                bad.append(f"CPU {cpu}: {e.group(0)}")
        checked += len(entries)
        report.append(f"CPU {cpu}: {len(entries)}")
    if bad:
        shown = "\n  ".join(bad[:20]) + (f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise Fail(f"{len(bad)} writable+executable mapping(s) in `info tlb` "
                   f"(flags: X=NX set, W=writable):\n  {shown}")
    note = f"; CPUs without paging: {unpaged}" if unpaged else ""
    return f"W^X: {checked} leaf mappings checked ({', '.join(report)}), none W+X{note}"


# ---------------------------------------------------------------------------------------------

def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def print_failure_logs(serial_log: Path, qemu_log: Path) -> None:
    text = read_log(serial_log)
    lines = text.split("\n")
    print(f"---- serial log: {serial_log} ({len(lines)} lines) ----")
    if len(lines) > LOG_TAIL:
        print(f"[... {len(lines) - LOG_TAIL} earlier lines in the file ...]")
        lines = lines[-LOG_TAIL:]
    print("\n".join(lines) if text else "[empty: nothing reached COM1]")
    print("---- end of serial log ----")
    qtext = qemu_log.read_text(errors="replace") if qemu_log.exists() else ""
    if qtext.strip():
        print(f"---- QEMU stdout/stderr: {qemu_log} ----")
        print(qtext.rstrip())
        print("---- end of QEMU output ----")


def run(o: Options) -> int:
    o.log_dir.mkdir(parents=True, exist_ok=True)
    serial_log = o.log_dir / f"{o.name}.log"
    qemu_log = o.log_dir / f"{o.name}.qemu.log"
    monitor_log = o.log_dir / f"{o.name}.monitor.log"
    for f in (serial_log, qemu_log, monitor_log, *o.log_dir.glob(f"{o.name}.tlb-cpu*.txt")):
        f.unlink(missing_ok=True)

    image = o.elf or o.iso
    if not image.is_file():
        print(f"FAIL: {o.name}: image {image} does not exist (build it first)")
        return 1
    if shutil.which(o.qemu) is None:
        print(f"FAIL: {o.name}: {o.qemu} not found (scripts/deps.sh installs qemu-system-x86)")
        return 1

    # The monitor socket goes beside the logs, unless that path is too long for sun_path
    # (108 bytes), as in a deep build tree: then into a temporary directory.
    monitor_sock = (o.log_dir / f"{o.name}.mon.sock").resolve()
    sock_dir = None
    if len(str(monitor_sock)) >= 100:
        sock_dir = Path(tempfile.mkdtemp(prefix="pvboot-"))
        monitor_sock = sock_dir / "mon.sock"
    monitor_sock.unlink(missing_ok=True)
    # --send, --clock, --idle: the serial port is a pair of FIFOs we hold open (O_RDWR, so neither
    # side's open blocks on the other).
    serial_pipe = None
    typist = None
    if o.sends or o.clocks or o.idles:
        serial_pipe = o.log_dir / f"{o.name}.serial"
        typist = Typist(serial_pipe, serial_log, o.sends)
    cmd = qemu_command(o, serial_log, monitor_sock, serial_pipe)
    (o.log_dir / f"{o.name}.cmd").write_text(" ".join(_quote(c) for c in cmd) + "\n")

    start = time.monotonic()
    deadline = start + o.timeout
    qout = qemu_log.open("wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qout, stderr=subprocess.STDOUT,
                            start_new_session=True)
    if typist:
        typist.qemu_pid = proc.pid
    try:
        detail = _drive(o, proc, serial_log, monitor_sock, monitor_log, deadline, typist)
        elapsed = time.monotonic() - start
        print(f"PASS: {o.name}: {detail} ({elapsed:.1f} s; log {serial_log})")
        return 0
    except Fail as e:
        elapsed = time.monotonic() - start
        kill(proc)
        qout.flush()
        print_failure_logs(serial_log, qemu_log)
        print(f"QEMU command: {' '.join(_quote(c) for c in cmd)}")
        print(f"FAIL: {o.name}: {e} ({elapsed:.1f} s; log {serial_log})")
        return 1
    except KeyboardInterrupt:
        kill(proc)
        print(f"FAIL: {o.name}: interrupted")
        return 130
    finally:
        kill(proc)
        qout.close()
        monitor_sock.unlink(missing_ok=True)
        if typist:
            typist.close()
        if sock_dir:
            shutil.rmtree(sock_dir, ignore_errors=True)


class Line(NamedTuple):
    """A line of the serial log as it arrived: when (host monotonic seconds), QEMU's CPU seconds
    by then, and the text without its end."""
    time: float
    cpu: float
    text: str


class Typist:
    """The serial line through FIFOs: copies QEMU's output into the log (a thread), timestamping
    each line as it completes, and types each --send text once its regex appears in the log."""

    def __init__(self, base: Path, log: Path, sends: list[tuple[str, bytes]]):
        self.paths = [Path(f"{base}.in"), Path(f"{base}.out")]
        for p in self.paths:
            p.unlink(missing_ok=True)
            os.mkfifo(p)
        self.fd = os.open(self.paths[0], os.O_RDWR)
        self.out = os.open(self.paths[1], os.O_RDWR)
        self.sends, self.pos = list(sends), 0
        self.log = log.open("ab", buffering=0)
        self.lines: list[Line] = []
        self.qemu_pid: int | None = None
        self.partial = b""
        self.last_read = time.monotonic()
        self.closed = False
        self.thread = threading.Thread(target=self._copy, daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        while not self.closed:
            r, _, _ = select.select([self.out], [], [], 0.1)
            if r:
                data = os.read(self.out, 4096)
                now = self.last_read = time.monotonic()
                self.log.write(data)
                *done, self.partial = (self.partial + data).split(b"\n")
                cpu = self._qemu_cpu() if done else 0.0
                for ln in done:
                    text = ANSI.sub("", ln.decode("utf-8", errors="replace")).replace("\r", "")
                    self.lines.append(Line(now, cpu, text))

    def _qemu_cpu(self) -> float:
        """QEMU's user and system CPU seconds so far (fields 14 and 15 of /proc/PID/stat, after
        the parenthesised command name)."""
        try:
            stat = Path(f"/proc/{self.qemu_pid}/stat").read_text()
        except (OSError, TypeError):
            return 0.0
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def span(self, opt: str, start: str, end: str) -> tuple[Line, Line, re.Match, re.Match]:
        """The first line matching start and the next matching end, with their matches; Fail
        (naming the option) when either is missing."""
        def find(rx: str, first: int) -> tuple[int, re.Match]:
            for i in range(first, len(self.lines)):
                if m := re.search(rx, self.lines[i].text):
                    return i, m
            raise Fail(f"{opt}: no line matched {q(rx)}" + (f" after {q(start)}" if first else ""))
        i, m0 = find(start, 0)
        j, m1 = find(end, i + 1)
        return self.lines[i], self.lines[j], m0, m1

    def drain(self) -> None:
        """Waits until QEMU's last output is in the log (after QEMU exited): the FIFO has been
        quiet for DRAIN_QUIET seconds."""
        while time.monotonic() - self.last_read < DRAIN_QUIET:
            time.sleep(POLL)

    def clock(self, c: ClockCheck) -> str:
        """Judges one --clock: its summary, or Fail when its lines are missing or the guest's
        time is off the host's by more than the tolerance."""
        a, b, m0, m1 = self.span("--clock", c.start, c.end)
        try:
            guest = float(m1.group(1)) - float(m0.group(1))
        except ValueError:
            raise Fail(f"--clock: {q(c.start)} or {q(c.end)} captured something not a number of seconds")
        host = b.time - a.time
        summary = f"guest {guest:.3f} s in {host:.3f} s of the host's"
        if guest <= 0 or abs(guest - host) > c.tolerance * host:
            raise Fail(f"--clock {q(c.start)} to {q(c.end)}: {summary}, off by more than {c.tolerance:g}")
        return summary

    def idle(self, c: IdleCheck) -> str:
        """Judges one --idle: its summary, or Fail when its lines are missing or QEMU was busier
        than allowed."""
        a, b, _, _ = self.span("--idle", c.start, c.end)
        host, cpu = b.time - a.time, b.cpu - a.cpu
        summary = f"QEMU used {cpu:.2f} CPU s in {host:.3f} s"
        if host <= 0 or cpu > c.max_cpu * host:
            raise Fail(f"--idle {q(c.start)} to {q(c.end)}: {summary}, more than {c.max_cpu:g} of it")
        return summary

    def poll(self, text: str) -> None:
        while self.sends:
            rx, data = self.sends[0]
            m = re.compile(rx, re.MULTILINE).search(text, self.pos)
            if not m:
                return
            self.pos = m.end()
            self.sends.pop(0)
            for i in range(len(data)):  # one byte at a time, as a person types: no FIFO overrun
                os.write(self.fd, data[i:i + 1])
                time.sleep(0.01)

    def close(self) -> None:
        self.closed = True
        self.thread.join()
        os.close(self.fd)
        os.close(self.out)
        self.log.close()
        for p in self.paths:
            p.unlink(missing_ok=True)


def _drive(o: Options, proc: subprocess.Popen, serial_log: Path, monitor_sock: Path,
           monitor_log: Path, deadline: float, typist: Typist | None = None) -> str:
    """Watches the run until it is decided; returns the PASS detail or raises Fail."""
    def decide_on_log(text: str) -> None:
        if typist:
            typist.poll(text)
        bad = forbidden(text, o.expect_nots)
        if bad:
            raise Fail(bad)

    def timing() -> str:
        return "".join(f"; clock: {typist.clock(c)}" for c in o.clocks) \
            + "".join(f"; idle: {typist.idle(c)}" for c in o.idles)

    if not o.halted:
        # Wait for QEMU to exit, failing early on a forbidden line.
        while proc.poll() is None:
            if time.monotonic() > deadline:
                text = read_log(serial_log)
                n, pos = match_expectations(text, o.expects)
                why = describe_missing(text, o.expects, n, pos) if n < len(o.expects) \
                    else "all expectations met but QEMU did not exit"
                raise Fail(f"timed out after {o.timeout:g} s: {why}")
            decide_on_log(read_log(serial_log))
            time.sleep(POLL)
        status = proc.returncode
        if typist:
            typist.drain()
        text = read_log(serial_log)
        decide_on_log(text)
        n, pos = match_expectations(text, o.expects)
        if n < len(o.expects):
            raise Fail(f"QEMU exited with status {status}; " + describe_missing(text, o.expects, n, pos))
        if status != o.exit_status:
            raise Fail(f"QEMU exited with status {status}, expected {o.exit_status}")
        return f"{len(o.expects)} expectation(s) met, QEMU exited with status {status}" + timing()

    # --halted: wait for the last expectation while QEMU runs ...
    last_seen = None  # when the last expectation first appeared, in or out of order
    while True:
        text = read_log(serial_log)
        decide_on_log(text)
        n, pos = match_expectations(text, o.expects)
        if n == len(o.expects):
            break
        # The last expectation marks the point where the machine halts: once it is in the log,
        # nothing more is coming, so an earlier expectation still missing will never appear.
        if last_seen is None and re.search(o.expects[-1], text, re.MULTILINE):
            last_seen = time.monotonic()
        if last_seen is not None and time.monotonic() - last_seen > HALT_GRACE:
            raise Fail(f"the machine halted ({q(o.expects[-1])} appeared), but "
                       + describe_missing(text, o.expects, n, pos))
        if proc.poll() is not None:
            raise Fail(f"QEMU exited with status {proc.returncode} before the machine halted; "
                       + describe_missing(text, o.expects, n, pos))
        if time.monotonic() > deadline:
            raise Fail(f"timed out after {o.timeout:g} s: " + describe_missing(text, o.expects, n, pos))
        time.sleep(POLL)
    # ... then it must still be running a moment later ...
    time.sleep(HALT_GRACE)
    if proc.poll() is not None:
        raise Fail(f"QEMU exited with status {proc.returncode} after {q(o.expects[-1])}; "
                   f"the machine should have stayed halted")
    decide_on_log(read_log(serial_log))
    # ... and the monitor inspects it, then quits QEMU.
    mon = Monitor(monitor_sock, deadline, monitor_log)
    try:
        detail = f"{len(o.expects)} expectation(s) met, machine stayed halted" + timing()
        if o.check_wx:
            detail += "; " + check_wx(mon, o.name, o.log_dir)
        mon.quit()
    finally:
        mon.close()
    try:
        proc.wait(timeout=QUIT_GRACE)
    except subprocess.TimeoutExpired:
        raise Fail(f"QEMU did not exit within {QUIT_GRACE:g} s of the monitor's quit")
    decide_on_log(read_log(serial_log))
    return detail


def _quote(s: str) -> str:
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def _on_sigterm(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    # ctest sends SIGTERM when its own TIMEOUT expires: take QEMU down with us.
    signal.signal(signal.SIGTERM, _on_sigterm)
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
