"""Clear Snakemake's directory lock only where no Snakemake runs: ``make run``'s first step.

A run killed hard (SIGKILL, power loss) leaves its lock in ``<workdir>/.snakemake/locks``
and the next run refuses to start (``LockException``). Clearing it blindly
(``snakemake --unlock`` before every run) also removes the lock of a run that is
still going, and two runs then write the same files. This clears it only when no
Snakemake process of this user has the working directory as its current
directory (Snakemake changes into ``--directory`` at start); otherwise the lock
stays and the new run gets Snakemake's own ``LockException`` if its files overlap.

A Snakemake killed alone (SIGKILL of its process, an OOM kill, a login node that
logs the user out) leaves its jobs running: an orphan ``mftl train`` keeps writing
its run folder. Such jobs (``python -m mftl ...`` whose current directory is the
working directory or a folder in it; a training changes into its run folder) make
``make run`` refuse, naming their pids, instead of starting a second writer there.

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
    return list(processes_in(workdir))


def _is_mftl_job(cmdline: list[str]) -> bool:
    """A job of this project: ``python -m mftl <subcommand>`` or the ``mftl`` console script."""
    names = [Path(arg).name for arg in cmdline[:1]]
    return bool(names) and (names[0] == "mftl" or (names[0].startswith("python") and cmdline[1:3] == ["-m", "mftl"]))


def processes_in(workdir: str | Path, kind=_is_snakemake, below: bool = False) -> dict[int, str]:
    """Process id -> command line of this user's processes of ``kind`` whose current directory is
    ``workdir`` (or, with ``below``, a folder in it)."""
    workdir = Path(workdir).resolve()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if not kind(cmdline):
                continue
            cwd = Path(os.readlink(proc / "cwd"))
            if cwd == workdir or (below and workdir in cwd.parents):
                found[int(proc.name)] = " ".join(arg for arg in cmdline if arg)
        except OSError:  # ended meanwhile, or another user's process
            continue
    return dict(sorted(found.items()))


def mftl_jobs_in(workdir: str | Path) -> dict[int, str]:
    """Process id -> command line of the mftl jobs running in ``workdir`` or a folder in it."""
    return processes_in(workdir, _is_mftl_job, below=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``snakemake --unlock <argv>`` unless a Snakemake runs in the working directory; exit status
    0 when the lock was cleared or kept, 1 when mftl jobs without a Snakemake run there, the
    unlock's status when it failed."""
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
    orphans = mftl_jobs_in(workdir)
    if orphans:  # no Snakemake owns them: a killed run's jobs, still writing there
        listing = "; ".join(f"pid {pid}: {cmd[:120]}" for pid, cmd in orphans.items())
        print(
            f"make run: mftl job(s) of an earlier run are still running in {workdir} without a Snakemake ({listing});"
            f" a new run would write beside them. Wait for them to end or stop them (kill {' '.join(map(str, orphans))}),"
            " then run again",
            file=sys.stderr,
        )
        return 1
    snakemake = shutil.which("snakemake") or str(Path(sys.executable).parent / "snakemake")
    return subprocess.run([snakemake, "--unlock", *args], stdout=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    sys.exit(main())
