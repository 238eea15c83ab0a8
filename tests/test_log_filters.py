"""mftl's processes keep known harmless third-party warnings out of the job logs and explain two mace lines."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO
from mftl.log_filters import DEBUG_ENV, EXPLAINED, HARMLESS_WARNINGS

#: a process that installs the filters as mftl.cli.main does, then meets each warning: in itself, in a mace-style
#: log line, and in a child process (as mace_eval_configs runs)
SCRIPT = f"""
import logging, subprocess, sys, warnings
from mftl.log_filters import HARMLESS_WARNINGS, quiet_known_warnings
quiet_known_warnings()
logging.basicConfig(format="%(levelname)s: %(message)s")
for category, start in HARMLESS_WARNINGS:
    warnings.warn(start + " (the full message goes on)", category)
warnings.warn("a warning nobody listed", UserWarning)
logging.warning("Cannot find checkpoint with tag 'mace_run-0' in './checkpoints'")
logging.warning("No SWA checkpoint found, while SWA is enabled. Compare the swa_start parameter.")
child = "import warnings; warnings.warn({HARMLESS_WARNINGS[1][1]!r} + ', since the...', UserWarning)"
subprocess.run([sys.executable, "-c", child], check=True)
"""


def run(env_extra: dict) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", DEBUG_ENV)}
    env.update(PYTHONPATH=str(REPO / "workflow"), **env_extra)
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_known_warnings_are_filtered_here_and_in_children_and_the_mace_lines_explained():
    err = run({})
    for _, start in HARMLESS_WARNINGS:
        assert start not in err
    assert "a warning nobody listed" in err
    assert (
        f"Cannot find checkpoint with tag 'mace_run-0' in './checkpoints' ({EXPLAINED['Cannot find checkpoint with tag']})"
        in err
    )
    assert f"({EXPLAINED['No SWA checkpoint found, while SWA is enabled']})" in err


def test_the_debug_variable_keeps_every_warning_as_it_was():
    err = run({DEBUG_ENV: "1"})
    for _, start in HARMLESS_WARNINGS:
        assert start in err
    assert err.count(HARMLESS_WARNINGS[1][1]) == 2  # this process and the child
    assert "mftl: harmless" not in err
