"""Planning cost: `snakemake -n` of a campaign vs bare Snakemake planning the same number of jobs.

The floor is a synthetic one-rule Snakefile whose `rule all` asks for N files
(N = the campaign's job count), planned in the same process environment, the
two alternating, so machine noise cancels. Prints medians of several runs and
the ratios of wall time and of CPU time (user + system of the snakemake
process; steadier than wall time on a machine shared with other work).

    .venv/bin/python bench/plan.py --configfile config/paper.yaml --repeats 3
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

FLAT = """
N = {n}
rule all:
    input: expand("out/{{i}}.txt", i=range(N))
rule make:
    output: "out/{{i}}.txt"
    shell: "touch {{output}}"
"""


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dry_run(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, output) of one `snakemake -n`."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    out = subprocess.run([SNAKEMAKE, "-n", "--quiet", "rules", *args], cwd=cwd, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return elapsed, cpu, out.stdout + out.stderr


def job_count(text: str) -> int:
    match = re.search(r"^total\s+(\d+)", text, re.MULTILINE)
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/paper.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = {"campaign": [], "flat": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        campaign = ["-s", str(REPO / "Snakefile"), "--configfile", str(REPO / args.configfile)]
        campaign += ["--directory", str(tmp / "campaign")]
        _, _, text = dry_run(campaign, REPO)
        n = job_count(text)
        (tmp / "flat").mkdir()
        (tmp / "flat" / "Snakefile").write_text(FLAT.format(n=n - 1))
        for _ in range(args.repeats):
            times["campaign"].append(dry_run(campaign, REPO)[:2])
            times["flat"].append(dry_run([], tmp / "flat")[:2])
    print(f"config: {args.configfile}")
    print(f"jobs: {n}")
    for i, unit in enumerate(("wall", "CPU")):
        campaign, flat = (statistics.median(t[i] for t in times[side]) for side in ("campaign", "flat"))
        listed = {side: ", ".join(f"{t[i]:.2f}" for t in times[side]) for side in times}
        print(
            f"{unit}: campaign dry run median {campaign:.2f} s ({listed['campaign']}); bare Snakemake, {n} jobs,"
            f" median {flat:.2f} s ({listed['flat']}); ratio {campaign / flat:.2f} (target <= 1.2)"
        )


if __name__ == "__main__":
    main()
