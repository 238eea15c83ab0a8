"""Planning cost: `snakemake -n` of a campaign vs bare Snakemake planning the same number of jobs.

The floor is a synthetic one-rule Snakefile whose `rule all` asks for N files
(N = the campaign's job count), planned in the same process environment, so
machine noise cancels. Prints medians of several runs and the ratio.

    .venv/bin/python bench/plan.py --configfile config/paper.yaml --repeats 3
"""

from __future__ import annotations

import argparse
import re
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


def dry_run(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([SNAKEMAKE, "-n", "--quiet", "rules", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return elapsed, out.stdout + out.stderr


def job_count(text: str) -> int:
    match = re.search(r"^total\s+(\d+)", text, re.MULTILINE)
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/paper.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    campaign_times, flat_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _, text = dry_run(["-s", str(REPO / "Snakefile"), "--configfile", str(REPO / args.configfile),
                           "--directory", str(tmp / "campaign")], REPO)
        n = job_count(text)
        (tmp / "flat").mkdir()
        (tmp / "flat" / "Snakefile").write_text(FLAT.format(n=n - 1))
        for _ in range(args.repeats):
            campaign_times.append(dry_run(["-s", str(REPO / "Snakefile"), "--configfile",
                                           str(REPO / args.configfile), "--directory", str(tmp / "campaign")],
                                          REPO)[0])
            flat_times.append(dry_run([], tmp / "flat")[0])
    campaign, flat = statistics.median(campaign_times), statistics.median(flat_times)
    print(f"config: {args.configfile}")
    print(f"jobs: {n}")
    print(f"campaign dry run: median {campaign:.2f} s of {campaign_times}")
    print(f"bare Snakemake, {n} jobs: median {flat:.2f} s of {flat_times}")
    print(f"ratio: {campaign / flat:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
