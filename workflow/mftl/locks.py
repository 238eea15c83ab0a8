"""Clear Snakemake's directory lock only where no Snakemake runs: ``make run``'s first step.

A run killed hard (SIGKILL, power loss) leaves its lock in ``<workdir>/.snakemake/locks``
and the next run refuses to start (``LockException``). Clearing it blindly
(``snakemake --unlock`` before every run) also removes the lock of a run that is
still going, and two runs then write the same files. This clears it only when no
Snakemake process of this user has the working directory as its current
directory (Snakemake changes into ``--directory`` at start); otherwise the lock
stays and the new run gets Snakemake's own ``LockException`` if its files overlap.

Usage, with the arguments of the run it prepares (only ``--directory``/``-d``
matters here; all are passed on to ``snakemake --unlock``)::

    python -m mftl.locks --directory results_dir --configfile config/x.yaml

Processes of other users are not visible (their ``/proc/<pid>/cwd`` cannot be
read) and count as elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def workdir_of(snakemake_args: list[str], cwd: str | Path) -> Path:
    """The working directory a Snakemake command line runs in: ``--directory``/``-d`` (the last one
    given, relative to ``cwd``), else ``cwd``; resolved."""
    workdir = Path(cwd)
    for i, arg in enumerate(snakemake_args):
        if arg in ("--directory", "-d") and i + 1 < len(snakemake_args):
            workdir = Path(cwd) / snakemake_args[i + 1]
        elif arg.startswith("--directory="):
            workdir = Path(cwd) / arg.split("=", 1)[1]
    return workdir.resolve()


def _is_snakemake(cmdline: list[str]) -> bool:
    """A Snakemake main process: ``snakemake ...``, ``python .../snakemake ...`` or ``python -m snakemake``."""
    names = [Path(arg).name for arg in cmdline[:3]]
    return bool(names) and (
        names[0] == "snakemake"
        or (names[0].startswith("python") and (names[1:2] == ["snakemake"] or cmdline[1:3] == ["-m", "snakemake"]))
    )


def snakemakes_in(workdir: str | Path) -> list[int]:
    """Process ids of the Snakemake processes whose current directory is ``workdir`` (readable ones)."""
    workdir = Path(workdir).resolve()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if _is_snakemake(cmdline) and Path(os.readlink(proc / "cwd")) == workdir:
                pids.append(int(proc.name))
        except OSError:  # ended meanwhile, or another user's process
            continue
    return sorted(pids)


def main(argv: list[str] | None = None) -> int:
    """Run ``snakemake --unlock <argv>`` unless a Snakemake runs in the working directory; exit status
    0 when the lock was cleared or kept, the unlock's status when it failed."""
    args = sys.argv[1:] if argv is None else argv
    workdir = workdir_of(args, Path.cwd())
    running = snakemakes_in(workdir)
    if running:
        print(
            f"make run: Snakemake (pid {', '.join(map(str, running))}) is running in {workdir}; its lock is kept "
            "(this run stops with LockException if it would write the same files)",
            file=sys.stderr,
        )
        return 0
    snakemake = shutil.which("snakemake") or str(Path(sys.executable).parent / "snakemake")
    return subprocess.run([snakemake, "--unlock", *args], stdout=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    sys.exit(main())
