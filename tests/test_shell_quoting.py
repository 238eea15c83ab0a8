"""Config strings reach the shell quoted: spaces, quotes, ``$(...)``, backticks and ``;`` in paths and
values arrive intact in ``mftl``'s arguments, and nothing in them is executed.

Every shell command of a hostile campaign's plan runs in bash with an ``mftl`` that only records its
arguments; a real run of the tiny campaign reads its data from ``my data/it's tiny.extxyz``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import FOUNDATION_MOLECULES, REPO, env_with_venv, full_tiny_config, run_snakemake, tiny_config
from mftl.cli import build_parser
from mftl.data.structures import read_structures, write_structures
from mftl.planning.config import ConfigError, check_config
from mftl.planning.figure_catalogue import available_figures
from mftl.training.training_job import TrainingJob

#: runs a command if bash ever evaluates it; every canary starts with PWNED (relative to the job's folder)
HOSTILE = 'it\'s "q" $(touch PWNED1) `touch PWNED2`; touch PWNED3 #'
#: closes a single-quoted argument and runs a command (the issue's example)
INJECTION = "x' || touch PWNED4 || '"

RECORDING_MFTL = """import json, os, sys
with open(os.environ["MFTL_ARGV_RECORD"], "a") as record:
    record.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def _hostile_config(source: Path, foundation_file: Path, replay_file: Path) -> dict:
    """The full tiny campaign plus a converted dataset, with hostile strings wherever a config holds one."""
    config = full_tiny_config(source)
    config = copy.deepcopy(config)
    config["model"]["wandb_name"] = HOSTILE
    config["training"]["scratch"]["wandb_project"] = HOSTILE
    config["training"]["finetune"]["wandb_project"] = INJECTION
    config["foundations"] = {
        "analog": {
            "file": str(foundation_file),
            "description": HOSTILE,
            "replay": {"file": str(replay_file), "energy_key": f"E {HOSTILE}", "forces_key": f"F {HOSTILE}"},
        }
    }
    config["downloads"] = {
        "dl": {
            "description": HOSTILE,
            "files": [{"name": f"{HOSTILE}.xyz", "url": f"https://example.org/{HOSTILE}?a=1&b=2", "md5": "0" * 32}],
        }
    }
    config["datasets"]["conv"] = {
        "description": HOSTILE,
        "convert": {"converter": "tungsten", "download": "dl", "fidelity": HOSTILE},
        "select": {"key": HOSTILE, "exclude": [HOSTILE, 7]},
        "model": {"wandb_name": f"conv {HOSTILE}"},
        "fidelities": {
            "pbe": {"energy_key": f"E {HOSTILE}", "forces_key": f"F {HOSTILE}", "description": HOSTILE},
            "gfn1": {"labeller": "tblite", "options": {"method": "GFN1-xTB", "note": HOSTILE, "tag": INJECTION}},
        },
        "high_fidelity": "pbe",
        "low_fidelity": "gfn1",
        "split": {"seed": 0, "test": 3, "validation": 2, "pretrain_pool": 0},
        "train_sizes": [5],
        "seeds": [0],
        "methods": ["scratch", "delta"],
    }
    return config


def _planned_commands(stdout: str) -> list[tuple[str, str | None, str]]:
    """(rule, log, shell command) of every job that ``snakemake -n -p`` printed."""
    jobs = []
    for block in stdout.split("\n\n"):
        rule = re.search(r"^(?:local)?rule (\w+):$", block, re.MULTILINE)
        fields = dict(line.strip().partition(": ")[::2] for line in block.splitlines())
        if rule and fields.get("Shell command", "None") != "None":
            jobs.append((rule.group(1), fields.get("log"), fields["Shell command"]))
    return jobs


def test_every_planned_shell_command_passes_hostile_config_strings_intact(tiny_source, tmp_path):
    work = tmp_path / "work"
    (work / "my data").mkdir(parents=True)
    source = work / "my data" / f"{HOSTILE}.extxyz"
    source.write_bytes(tiny_source.read_bytes())
    foundation_file, replay_file = work / f"model {HOSTILE}.model", work / f"replay {HOSTILE}.extxyz"
    foundation_file.write_text("")
    replay_file.write_text("")
    config = _hostile_config(source, foundation_file, replay_file)
    (work / "config.yaml").write_text(yaml.safe_dump(config))

    plan = run_snakemake(
        ["all", "all_figures", "-n", "-p", "--forceall", "--configfile", str(work / "config.yaml")], work, timeout=300
    )
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    jobs = _planned_commands(plan.stdout)
    rules = {rule for rule, _, _ in jobs}
    assert {
        "fetch",
        "convert",
        "split",
        "label",
        "collect",
        "scratch",
        "delta",
        "foundation",
        "foundation_multihead",
        "chain_stage",
        "evaluate",
        "costs",
        "all_figures",
    } <= rules

    stub = tmp_path / "stub" / "mftl"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("")
    (stub / "__main__.py").write_text(RECORDING_MFTL)
    record = tmp_path / "argv.jsonl"
    env = {**env_with_venv(), "PYTHONPATH": str(stub.parent), "MFTL_ARGV_RECORD": str(record)}
    failed = []
    for rule, log, command in jobs:
        if log:
            (work / log).parent.mkdir(parents=True, exist_ok=True)
        ran = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True)
        if ran.returncode != 0:
            failed.append(f"rule {rule}: {command}\n{ran.stderr}")
    assert not list(work.glob("PWNED*")), "a config string was executed by the shell"
    assert not failed, "\n".join(failed[:3])

    argvs = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(argvs) == len(jobs), "each shell command runs mftl exactly once"
    parser = build_parser()
    calls = [parser.parse_args(argv) for argv in argvs]

    def called(command, **match):
        return [c for c in calls if c.command == command and all(getattr(c, k) == v for k, v in match.items())]

    conv = config["datasets"]["conv"]
    [split_tiny] = [c for c in called("split") if "tiny_foundation" not in c.out_dir and "conv" not in c.out_dir]
    assert (work / split_tiny.source).resolve() == source.resolve()
    [split_conv] = [c for c in called("split") if c.out_dir.endswith("conv/splits")]
    assert json.loads(split_conv.select) == conv["select"]
    assert (split_conv.high_energy_key, split_conv.high_forces_key) == (f"E {HOSTILE}", f"F {HOSTILE}")
    labels = [c for c in called("label") if "/conv/" in c.input]
    assert labels and all(json.loads(c.options) == conv["fidelities"]["gfn1"]["options"] for c in labels)
    collects = called("collect", fidelity="pbe")
    assert collects and all((c.energy_key, c.forces_key) == (f"E {HOSTILE}", f"F {HOSTILE}") for c in collects)

    [fetch] = called("fetch")
    assert fetch.url == f"https://example.org/{HOSTILE}?a=1&b=2"
    assert fetch.out == f"resources/downloads/dl/{HOSTILE}.xyz"
    [convert] = called("convert")
    assert convert.inputs == [f"resources/downloads/dl/{HOSTILE}.xyz"] and convert.fidelity == HOSTILE

    trainings = [(c.out_dir, TrainingJob.from_json(c.job)) for c in called("train")]
    assert trainings and all(t.hyperparameters["wandb_name"] in (HOSTILE, f"conv {HOSTILE}") for _, t in trainings)
    assert {t.hyperparameters.get("wandb_project") for _, t in trainings} >= {HOSTILE, INJECTION}
    foundation_runs = [t for out, t in trainings if "/foundation" in out]
    assert len(foundation_runs) == 4 and all(Path(t.init_from) == foundation_file for t in foundation_runs)
    multihead = [t for out, t in trainings if "/foundation_multihead/" in out]
    assert len(multihead) == 2 and all(
        Path(t.replay) == replay_file and t.replay_keys == (f"E {HOSTILE}", f"F {HOSTILE}") for t in multihead
    )

    [costs_conv] = [c for c in called("costs") if "/conv/" in c.curves]
    costs_config = json.loads(costs_conv.config)
    assert costs_config["datasets"]["conv"]["fidelities"]["pbe"]["description"] == HOSTILE
    assert costs_config["foundations"]["analog"]["file"] == str(foundation_file)
    assert all(json.loads(e.metadata)["dataset"] in config["datasets"] for e in called("evaluate"))
    checks = called("stability")  # --settings and --metadata as JSON, each intact
    assert checks and all(json.loads(c.settings)["enabled"] and json.loads(c.metadata)["seed"] == 0 for c in checks)


@pytest.mark.slow
def test_data_path_with_a_space_and_a_quote_and_no_high_fidelity_cost_runs_to_its_figures(tiny_source, tmp_path):
    """The issue's "must show": ``my data/it's tiny.extxyz``, ``ref`` without ``cost``, hostile names
    in the selection, a model flag and a fidelity description; every figure, curves.csv and costs.csv."""
    work = tmp_path / "work"
    data = work / "my data" / "it's tiny.extxyz"
    data.parent.mkdir(parents=True)
    frames = read_structures(tiny_source)
    excluded = f"acetamide {HOSTILE}"
    for atoms in frames:
        if atoms.info["molecule"] in FOUNDATION_MOLECULES:
            atoms.info["molecule"] = excluded
    write_structures(data, frames)

    config = copy.deepcopy(
        tiny_config(Path("my data") / "it's tiny.extxyz", select={"key": "molecule", "exclude": [excluded]})
    )
    tiny = config["datasets"]["tiny"]
    del tiny["fidelities"]["ref"]["cost"]
    tiny["fidelities"]["ref"]["description"] = HOSTILE
    config["model"]["wandb_name"] = HOSTILE
    (work / "config.yaml").write_text(yaml.safe_dump(config))

    result = run_snakemake(["--configfile", "config.yaml", "--cores", "2"], work)
    logs = "\n".join(f"{p}:\n{p.read_text()[-1500:]}" for p in (work / "results").rglob("*.log"))
    assert result.returncode == 0, f"{result.stderr[-4000:]}\n{logs[-6000:]}"
    assert not list(work.glob("PWNED*"))

    split = json.loads((work / "results/tiny/splits/split.json").read_text())
    assert split["source"] == "my data/it's tiny.extxyz" and split["select"]["exclude"] == [excluded]
    assert split["n_selected"] == split["n_source"] - 20  # the 20 renamed configurations are excluded
    for figure in available_figures(tiny):
        for ext in ("png", "pdf"):
            assert (work / f"results/tiny/figures/{figure}.{ext}").stat().st_size > 0, figure
    curves = pd.read_csv(work / "results/tiny/curves.csv")
    costs = pd.read_csv(work / "results/tiny/costs.csv")
    assert len(costs) == len(curves) > 0
    assert costs["hf_labels_s"].isna().all()
    assert all("hf_labels_s" in unknown.split() for unknown in costs["unknown"])
    assert all(math.isfinite(t) and t > 0 for t in costs["training_s"])
    assert os.path.getsize(work / "results/curves.csv") > 0


def _with_braces(config: dict, where: str) -> None:
    name = "data {x}.extxyz"
    if where == "datasets.tiny.source":
        config["datasets"]["tiny"]["source"] = name
    elif where == "foundations.analog.file":
        config["datasets"]["tiny"].update(methods=["scratch", "foundation"], foundation="analog")
        config["foundations"] = {"analog": {"file": name}}
    else:
        config["downloads"] = {"dl": {"files": [{"name": name, "url": "https://example.org/data"}]}}


@pytest.mark.parametrize("where", ["datasets.tiny.source", "foundations.analog.file", "downloads.dl.files[0].name"])
def test_a_brace_in_a_file_name_is_refused_by_key(where):
    """Snakemake reads braces in a file path as a wildcard (its error names no config key); refused by name."""
    config = copy.deepcopy(tiny_config(Path("tiny.extxyz")))
    _with_braces(config, where)
    with pytest.raises(ConfigError, match=re.escape(f"config key '{where}': 'data {{x}}.extxyz' holds a brace")):
        check_config(config, REPO / "workflow/schemas/config.schema.yaml")


def test_planning_refuses_a_source_path_with_braces(tmp_path):
    config = copy.deepcopy(tiny_config(Path("tiny.extxyz")))
    _with_braces(config, "datasets.tiny.source")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plan = run_snakemake(["-n", "--configfile", "config.yaml"], tmp_path, timeout=300)
    assert plan.returncode != 0
    assert "config key 'datasets.tiny.source': 'data {x}.extxyz' holds a brace" in plan.stdout + plan.stderr
