"""The tests' own Snakemake runs on a busy machine: their timeout grows with the load, and one that runs past
it fails naming what ran, for how long and at what load, with nothing of it left running."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from conftest import SNAKEMAKE_TIMEOUT_S, run_timed, scaled_timeout


def test_the_timeout_grows_with_the_load_per_core(monkeypatch):
    """Load 8-10 on 2 cores once ran the tiny campaign past a fixed 900 s (24 tests errored)."""
    monkeypatch.delenv("MFTL_TEST_TIMEOUT_S", raising=False)
    assert scaled_timeout(SNAKEMAKE_TIMEOUT_S, load=0.0, cores=2) == SNAKEMAKE_TIMEOUT_S
    assert scaled_timeout(SNAKEMAKE_TIMEOUT_S, load=9.0, cores=2) == SNAKEMAKE_TIMEOUT_S * 5.5
    assert scaled_timeout(SNAKEMAKE_TIMEOUT_S, load=9.0, cores=16) < SNAKEMAKE_TIMEOUT_S * 1.6
    assert scaled_timeout(100, cores=1) == pytest.approx(100 * (1 + os.getloadavg()[0]), rel=0.5)
    monkeypatch.setenv("MFTL_TEST_TIMEOUT_S", "7200")
    assert scaled_timeout(SNAKEMAKE_TIMEOUT_S, load=0.0, cores=2) == 7200


def test_a_run_past_its_timeout_fails_naming_it_and_leaves_nothing_running(tmp_path, monkeypatch):
    monkeypatch.setenv("MFTL_TEST_TIMEOUT_S", "2")
    marker = tmp_path / "child.pid"
    # a parent that starts a child and waits: both must be gone after the timeout
    script = f"import os, subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); open({str(marker)!r}, 'w').write(str(p.pid)); sys.stderr.write('started\\n'); sys.stderr.flush(); p.wait()"
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failed:
        run_timed([sys.executable, "-c", script], tmp_path, 900, "the fixture under test")
    assert time.monotonic() - start < 30
    message = str(failed.value)
    assert message.startswith("the fixture under test did not finish within 2 s: killed after 2 s")
    assert "load" in message and "MFTL_TEST_TIMEOUT_S" in message and message.endswith("started\n")
    stat = Path(f"/proc/{int(marker.read_text())}/stat")
    time.sleep(0.5)
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", "the child still runs"
