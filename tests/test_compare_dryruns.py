"""bench/compare_dryruns.py: two records of one plan compare empty, a changed config value is reported per job."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from conftest import REPO, env_with_venv

SCRIPT = REPO / "bench/compare_dryruns.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *args]
    return subprocess.run(command, cwd=REPO, env=env_with_venv(), capture_output=True, text=True, timeout=300)


def test_a_plan_compares_equal_to_itself_and_a_changed_device_is_reported(tmp_path):
    spec = importlib.util.spec_from_file_location("compare_dryruns", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for name, extra in (("a", []), ("b", []), ("cpu", ["--config", "device=cpu"])):
        result = _run("record", "-o", str(tmp_path / f"{name}.json"), "--configfile", "config/config.yaml", *extra)
        assert result.returncode == 0, result.stderr[-3000:]
    auto, cpu = (json.loads((tmp_path / f"{n}.json").read_text())["jobs"] for n in ("a", "cpu"))
    assert {"rule", "wildcards", "input", "output", "params", "shell"} <= set(auto[0])

    same = _run("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert same.returncode == 0 and same.stdout == ""

    changed = _run("compare", str(tmp_path / "a.json"), str(tmp_path / "cpu.json"))
    assert changed.returncode == 1
    headers = {line for line in changed.stdout.splitlines() if line and not line.startswith(" ")}
    # the demo's trainings (their job's device) and evaluations (--device) run on auto: each is reported, as cpu
    auto_device = ("--device auto", '"device": "auto"')
    named_device = {script.job_key(j) for j in auto if any(word in (j["shell"] or "") for word in auto_device)}
    assert len(named_device) > 20 and named_device <= headers
    assert "      - auto\n      + cpu" in changed.stdout
    # and nothing else than jobs whose record differs
    by_key = {script.job_key(j): j for j in cpu}
    assert all(by_key[script.job_key(j)] != j for j in auto if script.job_key(j) in headers)
    assert len(headers) == sum(by_key[script.job_key(j)] != j for j in auto)

    # a rename compares as one: the earlier record renamed (rule mftl -> tuned, subcommand train -> fit) equals
    # the later record renamed the same way by hand, and without the rename every renamed job differs
    renamed = script.renamed(auto, {"mftl": "tuned"}, {"train": "fit"})
    assert {j["rule"] for j in renamed} >= {"tuned"} and "mftl" not in {j["rule"] for j in renamed}
    trainings = [j for j in renamed if j["shell"] and " -m mftl fit " in j["shell"]]
    assert len(trainings) == sum(1 for j in auto if j["shell"] and " -m mftl train " in j["shell"]) > 20
    assert all('"train_pool":' in j["shell"] for j in trainings)  # words that contain "train" are kept
    (tmp_path / "renamed.json").write_text(json.dumps({"jobs": renamed}))
    plain = _run("compare", str(tmp_path / "a.json"), str(tmp_path / "renamed.json"))
    assert plain.returncode == 1
    same = _run(
        "compare",
        str(tmp_path / "a.json"),
        str(tmp_path / "renamed.json"),
        "--renamed-rules",
        "mftl=tuned",
        "--renamed-words",
        "train=fit",
    )
    assert same.returncode == 0 and same.stdout == "", same.stdout[-2000:]
