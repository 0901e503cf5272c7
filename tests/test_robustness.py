"""Issue 11: concurrent and killed commands, damaged inputs, absurd sizes: one line, exit 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent has not reaped it


def _wait(predicate, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from Linux /proc")
def test_kill_9_of_a_sweep_driver_takes_its_workers_with_it(tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "cli", "sweep", "--objective", "quadratic", "--x", "lr=0.01:1:4",
               "--y", "wd=1e-4:1e-2:4", "--out", str(out), "--workers", "2", "--init-norm", "1",
               "--steps", "10000000"]  # far longer than the test: the workers are busy when killed
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        workers = lambda: [p for p in _children(driver.pid)  # noqa: E731
                           if b"multiprocessing" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert _wait(lambda: len(workers()) >= 3, 120), "the sweep never started its 2 workers"
        time.sleep(1.0)  # let the workers take their tasks
        family = _children(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _wait(lambda: not any(_alive(p) for p in family), 5), \
            f"processes of the sweep outlived its driver: {[p for p in family if _alive(p)]}"
    finally:
        if driver.poll() is None:
            driver.kill()
    from dynamics.util.io import DirectoryLock

    DirectoryLock(out).acquire().release()  # the directory is free for a rerun at once
