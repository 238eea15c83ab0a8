"""Record every job of a campaign's dry run, and compare two such records job by job.

    .venv/bin/python bench/compare_dryruns.py record -o before.json --configfile config/paper.yaml config/paper_extras.yaml
    ... change the workflow ...
    .venv/bin/python bench/compare_dryruns.py record -o after.json --configfile config/paper.yaml config/paper_extras.yaml
    .venv/bin/python bench/compare_dryruns.py compare before.json after.json

`record` runs Snakemake's own command line (``snakemake.cli.main``: the same argument parsing,
workflow profile and config handling as `snakemake -n`) in this process, planning into a temporary
directory that links the checkout's files but has no results/ (so every job is planned), and records each job as the dry-run executor receives it: rule, wildcards,
input, output, log and benchmark files, params, threads, resources and the formatted shell command
(``job.shellcmd``, exactly what a real run would execute). It hooks the dry-run executor's
``run_job`` rather than parsing `snakemake -n -p`'s text, whose comma-separated file lists,
wrapped shell commands and log formatting are neither unambiguous nor stable across Snakemake
versions; `--detailed-summary` has no wildcards or params and is one row per output file, not per
job. The checkout's and the temporary directory's absolute paths are written as ``<repo>`` and
``<workdir>``, so records of two checkouts compare. Jobs are keyed by rule and output files.

A rename of rules or of `mftl` subcommands is compared as such: ``compare --renamed-rules
finetune=mftl --renamed-words concat-curves=campaign-curves`` renames them in the earlier record
first, so only what else changed is printed.

`compare` prints, per job, each field that differs, then the jobs only one record has; it prints
nothing and exits 0 when the two records are the same, else exits 1.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _plain(value, replace):
    """JSON-ready copy of a Snakemake value (Namedlist, Wildcards, Resources, paths), paths normalised."""
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, replace) for k, v in value.items()}
    if hasattr(value, "_names") and value._names:  # a Snakemake Namedlist: its names, and unnamed items as _list
        named = {name: _plain(item, replace) for name, item in value.items()}
        spans = sum(1 if end is None else end - start for start, end in value._names.values())
        return named if spans == len(value) else {"_list": [_plain(item, replace) for item in value], **named}
    if isinstance(value, list | tuple) or hasattr(value, "__iter__") and not isinstance(value, bytes):
        return [_plain(item, replace) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return replace(str(value))


def _job_record(job, replace) -> dict:
    resources = {k: v for k, v in dict(job.resources.items()).items() if k not in ("tmpdir", "_cores", "_nodes")}
    return {
        "rule": job.rule.name,
        "wildcards": _plain(dict(job.wildcards_dict), replace),
        "input": _plain(job.input, replace),
        "output": _plain(job.output, replace),
        "log": _plain(job.log, replace),
        "benchmark": _plain(job.benchmark, replace),
        "params": _plain(job.params, replace),
        "threads": job.threads,
        "resources": _plain(resources, replace),
        "shell": replace(job.shellcmd) if job.shellcmd else None,
    }


def job_key(record: dict) -> str:
    """The job's rule and output files: what identifies a job across two plans."""
    output = record["output"]
    files = (
        output
        if isinstance(output, list)
        else [f for v in output.values() for f in (v if isinstance(v, list) else [v])]
    )
    return f"{record['rule']} -> {' '.join(sorted(files))}"


def _difference(a, b) -> str:
    """Before/after of one field; for two strings (shell commands, params) only the words that differ."""
    if isinstance(a, str) and isinstance(b, str):
        words = difflib.ndiff(a.split(" "), b.split(" "))
        return "\n".join(f"      {w[:1]} {w[2:]}" for w in words if w[:1] in "-+")
    if isinstance(a, dict) and isinstance(b, dict):
        return "\n".join(
            f"    {k}:\n{_difference(a.get(k), b.get(k))}" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
        )
    return f"      before: {json.dumps(a)}\n      after:  {json.dumps(b)}"


def record(configfiles: list[str], extra: list[str]) -> list[dict]:
    """Every job of `snakemake -n --configfile CONFIGFILES EXTRA`, planned into an empty directory."""
    from snakemake import cli
    from snakemake.executors import dryrun

    jobs = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = str(Path(tmp).resolve())
        for entry in REPO.iterdir():  # relative paths in the config (sources, resources) read as in the checkout
            if entry.name not in ("results", ".snakemake", ".git"):
                (Path(workdir) / entry.name).symlink_to(entry)

        def replace(text: str) -> str:
            return text.replace(workdir, "<workdir>").replace(str(REPO), "<repo>")

        def run_job(self, job):
            jobs.extend(_job_record(j, replace) for j in (job.jobs if job.is_group() else [job]))
            original(self, job)

        original = dryrun.Executor.run_job
        dryrun.Executor.run_job = run_job
        argv = [
            "-n",
            "--quiet",
            "rules",
            "host",
            "reason",
            "--cores",
            "1",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            workdir,
        ]
        argv += ["--configfile", *(str(Path(c).resolve()) for c in configfiles), *extra]
        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            cli.main(argv)
        except SystemExit as exit:
            if exit.code:
                raise RuntimeError(f"snakemake {' '.join(argv)} failed (exit {exit.code})") from None
        finally:
            dryrun.Executor.run_job = original
            os.chdir(cwd)
    if not jobs:
        raise RuntimeError("the dry run reported no jobs")
    return sorted(jobs, key=job_key)


def compare(before: list[dict], after: list[dict]) -> list[str]:
    """Lines naming every difference between two records, per job; empty when they are the same."""
    old, new = ({job_key(j): j for j in jobs} for jobs in (before, after))
    lines = []
    for key in sorted(old.keys() & new.keys()):
        fields = [f for f in sorted(old[key].keys() | new[key].keys()) if old[key].get(f) != new[key].get(f)]
        if fields:
            lines.append(key + "".join(f"\n  {f}:\n{_difference(old[key].get(f), new[key].get(f))}" for f in fields))
    lines += [f"only before: {key}" for key in sorted(old.keys() - new.keys())]
    lines += [f"only after:  {key}" for key in sorted(new.keys() - old.keys())]
    return lines


def renamed(jobs: list[dict], rules: dict[str, str], words: dict[str, str]) -> list[dict]:
    """``jobs`` as if recorded after renaming rules (old -> new name) and shell words (an ``mftl``
    subcommand: old -> new, whole words between spaces only), so a rename's comparison shows what else changed."""
    out = []
    for job in jobs:
        job = {**job, "rule": rules.get(job["rule"], job["rule"])}
        for old, new in words.items():
            if job.get("shell"):
                job["shell"] = re.sub(rf"(?<!\S){re.escape(old)}(?!\S)", new, job["shell"])
        out.append(job)
    return out


def _pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record a dry run's jobs as JSON")
    rec.add_argument("--configfile", nargs="+", required=True)
    rec.add_argument("-o", "--output", required=True, help="JSON file to write")
    rec.add_argument("--config", nargs="+", default=[], help="passed on as snakemake --config")
    cmp = commands.add_parser("compare", help="print the differences between two records")
    cmp.add_argument("before")
    cmp.add_argument("after")
    cmp.add_argument("--renamed-rules", nargs="+", default=[], metavar="OLD=NEW", help="rules renamed since before")
    cmp.add_argument("--renamed-words", nargs="+", default=[], metavar="OLD=NEW", help="shell words renamed since")
    args = parser.parse_args(argv)
    if args.command == "record":
        jobs = record(args.configfile, ["--config", *args.config] if args.config else [])
        Path(args.output).write_text(json.dumps({"configfiles": args.configfile, "jobs": jobs}, indent=1) + "\n")
        print(f"{len(jobs)} jobs -> {args.output}", file=sys.stderr)
        return 0
    before, after = (json.loads(Path(p).read_text())["jobs"] for p in (args.before, args.after))
    before = renamed(before, _pairs(args.renamed_rules), _pairs(args.renamed_words))
    lines = compare(before, after)
    if lines:
        print("\n".join(lines), flush=True)
    print(f"{len(before)} jobs before, {len(after)} after, {len(lines)} jobs differ", file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
