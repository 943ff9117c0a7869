"""Console verdict logic on recorded and hand-written transcripts (no QEMU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xen2kvm.verify.console import (
    ConsoleWatcher,
    Sample,
    SilenceJudge,
    Verdict,
    clean_line,
    console_on_ttys0,
)

DATA = Path(__file__).parent / "data"


def feed_all(text: str, chunk: int = 7) -> tuple[ConsoleWatcher, list[tuple[Verdict, str, float]]]:
    """Feed a transcript in small chunks, one 'second' per chunk, as a serial port would."""
    w = ConsoleWatcher()
    found = []
    data = text.encode()
    for i in range(0, len(data), chunk):
        det = w.feed(data[i : i + chunk], float(i // chunk))
        if det is not None:
            found.append((det.verdict, det.line, det.at))
    return w, found


@pytest.mark.parametrize(
    ("name", "verdict", "line_part"),
    [
        ("initramfs-tools-no-root.txt", Verdict.NO_ROOT, "Gave up waiting for root"),
        ("debian-login.txt", Verdict.LOGIN, "login:"),
    ],
)
def test_recorded_transcripts(name: str, verdict: Verdict, line_part: str) -> None:
    text = (DATA / name).read_text()
    w, found = feed_all(text)
    assert len(found) == 1, "one decision only: the first"
    assert found[0][0] is verdict
    assert line_part in found[0][1]
    assert w.kernel_banner_at is not None
    assert w.first_byte_at == 0.0


@pytest.mark.parametrize(
    ("line", "verdict"),
    [
        ("This isn't a KVM kernel! Fix your configuration profile.", Verdict.NOT_KVM_KERNEL),
        ("ALERT!  /dev/xvda does not exist.  Dropping to a shell!", Verdict.NO_ROOT),
        ("[    3.1] VFS: Unable to mount root fs on unknown-block(0,0)", Verdict.NO_ROOT),
        ("[    3.2] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
         Verdict.NO_ROOT),
        ("ERROR: device 'UUID=1234' not found. Skipping fsck.", Verdict.NO_ROOT),
        ("[  183.5] dracut-initqueue[301]: Warning: dracut-initqueue: timeout, still waiting for",
         Verdict.NO_ROOT),
        ("[  190.1] dracut: FATAL: Could not boot.", Verdict.NO_ROOT),
        ("[    5.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100",
         Verdict.PANIC),
        ("You are in emergency mode. After logging in, type \"journalctl -xb\"",
         Verdict.INITRAMFS_SHELL),
    ],
)
def test_failure_signatures(line: str, verdict: Verdict) -> None:
    w = ConsoleWatcher()
    w.feed(b"[    0.000000] Linux version 6.1.0-50-amd64\r\n", 1.0)
    det = w.feed(line.encode() + b"\r\n", 2.5)
    assert det is not None
    assert det.verdict is verdict
    assert det.at == 2.5


def test_decides_when_the_line_completes_not_before() -> None:
    w = ConsoleWatcher()
    assert w.feed(b"Gave up waiting for ro", 1.0) is None
    det = w.feed(b"ot file system device.\r\n", 2.0)
    assert det is not None and det.verdict is Verdict.NO_ROOT and det.at == 2.0


def test_login_prompt_is_a_partial_line() -> None:
    w = ConsoleWatcher()
    assert w.feed(b"\r\nDebian GNU/Linux 12 host ttyS0\r\n\r\n", 1.0) is None
    det = w.feed(b"host login: ", 2.0)
    assert det is not None and det.verdict is Verdict.LOGIN


def test_last_login_line_is_not_a_prompt() -> None:
    w = ConsoleWatcher()
    assert w.feed(b"Last login: Mon Nov 24 10:00:00 2026 on ttyS0\r\n", 1.0) is None


def test_harmless_lines_decide_nothing() -> None:
    _, found = feed_all(
        "[    0.0] Linux version 6.1.0\n[    1.0] Run /init as init process\n"
        "Begin: Loading essential drivers ... done.\n"
        "[  OK  ] Reached target getty.target - Login Prompts.\n"
        "[ TIME ] Timed out waiting for device dev-xvdb.device - /dev/xvdb.\n"
    )
    assert found == []


def test_first_decision_wins() -> None:
    w = ConsoleWatcher()
    first = w.feed(b"Gave up waiting for root file system device.\n", 1.0)
    later = w.feed(b"[ 99.0] Kernel panic - not syncing: Attempted to kill init!\n", 2.0)
    assert first is not None and first.verdict is Verdict.NO_ROOT
    assert later is None
    assert w.detection is first


def test_clean_line_strips_escapes_and_carriage_returns() -> None:
    assert clean_line("\x1b[0;32m  OK  \x1b[0m] Started x\r") == "  OK  ] Started x"
    assert clean_line("spinner 1\rspinner 2\r") == "spinner 2"


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        ("root=/dev/xvda ro console=hvc0", False),
        ("root=/dev/sda console=ttyS0,19200n8", True),
        ("root=/dev/sda console=tty0 console=ttyS0", True),
        ("root=/dev/sda", False),
        ("console=ttyS1", False),
    ],
)
def test_console_on_ttys0(cmdline: str, expected: bool) -> None:
    assert console_on_ttys0(cmdline) is expected


def samples(judge: SilenceJudge, spec: list[tuple[float, int, bool, bool]]) -> str | None:
    reason = None
    for at, ops, kernel, halted in spec:
        reason = judge.add(Sample(at, ops, at * 0.5, kernel, halted))
        if reason:
            return f"{at}:{reason}"
    return reason


def test_silence_needs_a_halted_vcpu() -> None:
    busy = [(float(t), 5, True, False) for t in range(60)]
    assert samples(SilenceJudge(predicted_silent=True), busy) is None


def test_silence_needs_a_still_disk() -> None:
    reading = [(float(t), t, True, True) for t in range(60)]
    assert samples(SilenceJudge(predicted_silent=False), reading) is None


def test_predicted_silence_is_decided_after_the_short_window() -> None:
    spec = [(float(t), 3, t >= 4, t >= 10) for t in range(60)]
    result = samples(SilenceJudge(predicted_silent=True, predicted_window=8.0), spec)
    assert result is not None
    at = float(result.split(":")[0])
    # halted from t=10; 70 % of an 8 s window halted is reached a few seconds later
    assert 12.0 <= at <= 20.0
    assert "no console on ttyS0" in result


def test_unpredicted_silence_waits_for_the_long_window() -> None:
    spec = [(float(t), 3, t >= 4, t >= 10) for t in range(90)]
    result = samples(SilenceJudge(predicted_silent=False, window=20.0), spec)
    assert result is not None
    assert float(result.split(":")[0]) >= 20.0
    assert "after the kernel started" in result


def test_disk_activity_restarts_the_window() -> None:
    spec = [(float(t), min(t, 30), True, True) for t in range(45)]
    result = samples(SilenceJudge(predicted_silent=True, predicted_window=8.0), spec)
    assert result is not None
    assert float(result.split(":")[0]) >= 38.0


def test_initramfs_tools_wrong_root_and_shell_prompt() -> None:
    w = ConsoleWatcher()
    det = w.feed(b"Failed to mount /dev/sda as root file system.\r\n", 1.0)
    assert det is not None and det.verdict is Verdict.NO_ROOT
    w2 = ConsoleWatcher()
    det2 = w2.feed(b"\r\n(initramfs) \x1b[6n", 2.0)
    assert det2 is not None and det2.verdict is Verdict.INITRAMFS_SHELL
