"""Two campaigns in one folder: the second does not silently replace the first's campaign-level files."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import run_snakemake, tiny_config
from mftl.planning.config import ConfigError
from mftl.planning.results_folder import check_campaign_files


def _made_by(folder, datasets) -> None:
    (folder / "results").mkdir(parents=True, exist_ok=True)
    rows = [{"dataset": d, "method": "scratch", "train_size": 20, "seed": 0} for d in datasets]
    pd.DataFrame(rows).to_csv(folder / "results/curves.csv", index=False)


def test_the_campaign_files_of_other_datasets_are_refused_an_extension_is_not(tmp_path):
    _made_by(tmp_path, ["demo", "demo_ccsdt"])
    with pytest.raises(ConfigError) as refused:
        check_campaign_files({"datasets": {"qm7x": {}, "sgdml": {}}}, tmp_path)
    assert str(refused.value).startswith(
        f"{tmp_path}/results/curves.csv belongs to another campaign (datasets demo, demo_ccsdt); this config"
        " (datasets qm7x, sgdml) lacks demo, demo_ccsdt and would replace its campaign-level files"
        " (results/curves.csv, results/paper_comparison.csv, results/report.html)"
    )
    assert "snakemake --directory <folder>" in str(refused.value)
    check_campaign_files({"datasets": {"demo": {}, "demo_ccsdt": {}, "demo_dftb3": {}}}, tmp_path)  # an overlay
    check_campaign_files({"datasets": {"x": {}}}, tmp_path / "elsewhere")  # nothing there yet


def test_a_second_campaign_in_the_folder_is_refused_before_any_job_and_runs_in_its_own(tiny_source, tmp_path):
    """A dry run (or --lint, --rulegraph) of the second campaign warns; its run stops before its first job;
    in its own folder (snakemake --directory) it plans."""
    first = tmp_path / "first"
    _made_by(first, ["demo"])
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_source)))
    message = "results/curves.csv belongs to another campaign (datasets demo); this config (datasets tiny) lacks demo"
    planned = run_snakemake(["-n", "--configfile", str(config)], first)
    assert planned.returncode == 0 and f"WARNING: {message}" in planned.stderr, planned.stderr[-2000:]
    refused = run_snakemake(["--cores", "1", "--configfile", str(config)], first)
    assert refused.returncode != 0 and message in refused.stdout + refused.stderr
    assert not (first / "results/tiny").exists()  # no job ran
    assert pd.read_csv(first / "results/curves.csv")["dataset"].tolist() == ["demo"]
    (tmp_path / "second").mkdir()
    own = run_snakemake(["-n", "--configfile", str(config)], tmp_path / "second")
    assert own.returncode == 0 and "WARNING" not in own.stderr, own.stdout[-2000:] + own.stderr[-2000:]
