"""DFTB+ labeller: the dftb_in.hsd it writes, checked key by key, and a real run where dftb+ exists."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk, molecule
from ase.units import Bohr, Hartree

from mftl.data.labellers import LabellerError, backend, dftbplus, label_frames
from mftl.data.labellers.dftbplus import force_consistent_energy, make_calculator, supported_elements, write_input
from mftl.data.labellers.skf import max_angular_momentum, plain_skf_dir, skf_elements
from mftl.planning.config import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]

# Homonuclear SKF onsite lines: Ed Ep Es SPE Ud Up Us fd fp fs (Hartree; values of the mio kind).
ONSITE_LINES = {
    "H": "0.0 0.0 -0.2386 0.0 0.0 0.0 0.4196 0.0 0.0 1.0",
    "C": "0.0 -0.1943 -0.5048 0.0 0.0 0.3647 0.3647 0.0 2.0 2.0",
    "O": "0.0 -0.3321 -0.8788 0.0 0.0 0.4954 0.4954 0.0 4.0 2.0",
    # Empty 2p shell in the basis: an onsite energy but no occupation.
    "Li": "0.0, -0.0376 -0.1055 0.0 0.0 0.1737 0.1737 2*0.0 1.0",
}
# Extended format (first line "@"): Ef Ed Ep Es SPE Uf Ud Up Us ff fd fp fs.
W_EXTENDED = "0.0 -0.2010 -0.0420 -0.1710 0.0 0.0 0.2600 0.2000 0.2100 0.0 4.0 0.0 2.0"


@pytest.fixture
def skf_dir(tmp_path: Path) -> Path:
    """SKF files with only the header lines the labeller reads (grid line, onsite line)."""
    folder = tmp_path / "ptbp"
    folder.mkdir()
    for a in ("H", "C", "O", "Li"):
        for b in ("H", "C", "O", "Li"):
            onsite = f"{ONSITE_LINES[a]}\n" if a == b else ""
            (folder / f"{a}-{b}.skf").write_text(f"0.02, 500\n{onsite}")
    (folder / "W-W.skf").write_text(f"@ extended format\n0.02 600\n{W_EXTENDED}\n")
    return folder


def parse_hsd(text: str) -> dict:
    """The small subset of HSD that ASE writes, as nested dicts.

    ``Name = Type {`` opens a block stored with ``_type``; bare lines inside a
    block (k-point rows, includes) go to ``_lines``.
    """
    root: dict = {}
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            assert stack, "unbalanced braces"
        elif line.endswith("{"):
            name, _, kind = line[:-1].partition("=")
            node = {"_type": kind.strip(), "_lines": []}
            stack[-1][name.strip()] = node
            stack.append(node)
        elif "=" in line:
            name, _, value = line.partition("=")
            stack[-1][name.strip()] = value.strip()
        else:
            stack[-1]["_lines"].append(line)
    assert len(stack) == 1, "unbalanced braces"
    return root


def test_ethanol_input_is_scc_with_fermi_filling_and_no_kpoints(skf_dir, tmp_path):
    hsd_path = write_input(molecule("CH3CH2OH"), {"skf_dir": str(skf_dir)}, tmp_path / "ethanol")
    hsd = parse_hsd(hsd_path.read_text())

    ham = hsd["Hamiltonian"]
    assert ham["_type"] == "DFTB"
    assert ham["SCC"] == "Yes"
    assert float(ham["SCCTolerance"]) == 1e-6 and ham["MaxSCCIterations"] == "200"
    assert {k: v for k, v in ham["MaxAngularMomentum"].items() if not k.startswith("_")} == {
        "C": '"p"',
        "H": '"s"',
        "O": '"p"',
    }
    assert ham["Filling"]["_type"] == "Fermi"
    assert float(ham["Filling"]["Temperature [Kelvin]"]) == 300.0
    assert "KPointsAndWeights" not in ham
    skf = ham["SlaterKosterFiles"]
    assert skf["_type"] == "Type2FileNames"
    assert skf["Prefix"] == f'"{skf_dir.resolve()}/"' and skf["Separator"] == '"-"' and skf["Suffix"] == '".skf"'
    assert hsd["Analysis"]["CalculateForces"] == "Yes"
    assert hsd["Options"]["WriteResultsTag"] == "Yes"
    # Not ASE's 1, from which DFTB+ would switch on shell-resolved SCC and legacy finite differences.
    # 13: DFTB+ 24.1+ renames ASE's CalculateForces itself; 14 would reject it, ASE's 1 would convert from 2006.
    assert hsd["ParserOptions"] == {"_type": "", "_lines": [], "IgnoreUnprocessedNodes": "No", "ParserVersion": "13"}
    assert "ThirdOrderFull" not in ham and "HubbardDerivs" not in ham and "HCorrection" not in ham  # plain DFTB2
    assert hsd["Geometry"]["_type"] == "GenFormat" and hsd["Geometry"]["_lines"] == ['<<< "geo_end.gen"']
    gen = (tmp_path / "ethanol" / "geo_end.gen").read_text().split()
    assert gen[:2] == ["9", "C"]  # nine atoms, cluster (non-periodic)


def test_periodic_tungsten_gets_a_kpoint_grid_from_the_density_and_smearing(skf_dir, tmp_path):
    w = bulk("W", "bcc", a=3.165, cubic=True)
    hsd = parse_hsd(write_input(w, {"skf_dir": str(skf_dir)}, tmp_path / "w").read_text())

    ham = hsd["Hamiltonian"]
    assert ham["MaxAngularMomentum"]["W"] == '"d"'
    assert ham["Filling"]["_type"] == "Fermi"
    assert float(ham["Filling"]["Temperature [Kelvin]"]) == 1000.0
    kpoints = ham["KPointsAndWeights"]
    assert kpoints["_type"] == "SupercellFolding"
    # 5 points per 1/A along |b| = 2 pi / 3.165 A: ceil(9.93) = 10, even, so shifted by half a step.
    assert kpoints["_lines"] == ["10 0 0", "0 10 0", "0 0 10", "0.5 0.5 0.5"]
    assert (tmp_path / "w" / "geo_end.gen").read_text().split()[:2] == ["2", "S"]


def test_explicit_kpoints_temperature_and_extra_keywords(skf_dir, tmp_path):
    w = bulk("W", "bcc", a=3.165, cubic=True).repeat((3, 3, 1))
    options = {
        "skf_dir": str(skf_dir),
        "kpts": [3, 3, 4],
        "temperature_k": 500,
        "extra": {"Hamiltonian_ShellResolvedSCC": "Yes"},
        "ignore_unprocessed_nodes": True,
    }
    hsd = parse_hsd(write_input(w, options, tmp_path / "w").read_text())
    assert hsd["Hamiltonian"]["KPointsAndWeights"]["_lines"] == ["3 0 0", "0 3 0", "0 0 4", "0.0 0.0 0.5"]
    assert float(hsd["Hamiltonian"]["Filling"]["Temperature [Kelvin]"]) == 500.0
    assert hsd["Hamiltonian"]["ShellResolvedSCC"] == "Yes"
    assert hsd["ParserOptions"]["IgnoreUnprocessedNodes"] == "Yes"


def test_angular_momenta_come_from_onsite_energies_and_occupations(skf_dir):
    assert max_angular_momentum(skf_dir / "H-H.skf") == "s"
    assert max_angular_momentum(skf_dir / "O-O.skf") == "p"
    assert max_angular_momentum(skf_dir / "W-W.skf") == "d"
    # Li 2p is empty in the atom but part of the basis (ASE's occupation rule would say "s").
    assert max_angular_momentum(skf_dir / "Li-Li.skf") == "p"
    broken = skf_dir / "X-X.skf"
    broken.write_text("0.02 500\n0.0 0.0\n")
    with pytest.raises(LabellerError, match="X-X.skf"):
        max_angular_momentum(broken)


def test_supported_elements_follow_the_skf_folder(skf_dir, tmp_path):
    assert supported_elements(skf_dir) == {"H", "C", "O", "Li", "W"}
    assert supported_elements(None) == dftbplus.PTBP_ELEMENTS
    assert {"H", "C", "O", "W", "Bi"} <= dftbplus.PTBP_ELEMENTS and "Po" not in dftbplus.PTBP_ELEMENTS
    assert backend("dftbplus") is dftbplus


def test_configuration_mistakes_are_refused_before_dftb_runs(skf_dir, tmp_path):
    with pytest.raises(LabellerError, match="unknown option.*kpoints"):
        write_input(molecule("H2O"), {"skf_dir": str(skf_dir), "kpoints": [2, 2, 2]}, tmp_path / "a")
    with pytest.raises(LabellerError, match="skf_dir"):
        make_calculator({}, threads=1)
    with pytest.raises(LabellerError, match=r"pair\(s\) C-W, H-W, W-C, W-H \("):
        write_input(molecule("CH4") + bulk("W", "bcc", a=3.165)[0:1], {"skf_dir": str(skf_dir)}, tmp_path / "b")


def test_each_calculator_gets_a_fresh_scratch_folder_and_the_job_threads(skf_dir, tmp_path):
    options = {"skf_dir": str(skf_dir), "scratch_dir": str(tmp_path / "scratch")}
    first, second = make_calculator(options, threads=3), make_calculator(options, threads=3)
    assert first.directory != second.directory
    assert Path(first.directory).parent == tmp_path / "scratch" and Path(first.directory).is_dir()
    assert "; OMP_NUM_THREADS=3 dftb+ > PREFIX.out 2>&1" in first.command


def test_energy_is_read_from_the_force_related_line(tmp_path):
    detailed = tmp_path / "detailed.out"
    detailed.write_text(
        "Total energy:                      -3.9489000000 H         -107.4549 eV\n"
        "Extrapolated to 0:                 -3.9490000000 H         -107.4576 eV\n"
        "Total Mermin free energy:          -3.9491000000 H         -107.4603 eV\n"
        "Force related energy:              -3.9491000000 H         -107.4603 eV\n"
    )
    assert force_consistent_energy(detailed) == pytest.approx(-3.9491 * 27.211386, rel=1e-6)
    detailed.write_text("Total energy:  -3.9 H  -106.1 eV\n")
    assert force_consistent_energy(detailed) is None


STAND_IN_DFTB = """#!{python}
# Stand-in for dftb+ that writes the two output files ASE reads, in DFTB+'s formats.
import os, pathlib, sys
with open({log!r}, "a") as log:
    log.write(f"{{os.environ.get('OMP_NUM_THREADS')}} {{os.getcwd()}}\\n")
hsd = pathlib.Path("dftb_in.hsd").read_text()
if "CalculateForces = Yes" not in hsd or {fail}:
    sys.exit(1)
n_atoms = int(pathlib.Path("geo_end.gen").read_text().split()[0])
pathlib.Path("detailed.out").write_text(
    "Total energy:                      -1.0000000000 H          -27.2114 eV\\n"
    "Total Mermin free energy:          -1.0010000000 H          -27.2386 eV\\n"
    "Force related energy:              -1.0010000000 H          -27.2386 eV\\n"
)
rows = "".join(f"{{0.01 * i:.6f}} 0.000000 -0.010000\\n" for i in range(n_atoms))
pathlib.Path("results.tag").write_text(f"forces              :real:2:3,{{n_atoms}}\\n" + rows)
"""


def _stand_in(tmp_path: Path, fail: bool) -> tuple[Path, Path]:
    log = tmp_path / ("failing.log" if fail else "calls.log")
    program = tmp_path / ("failing-dftb" if fail else "stand-in-dftb")
    program.write_text(STAND_IN_DFTB.format(python=sys.executable, log=str(log), fail=fail))
    program.chmod(0o755)
    return program, log


def test_labelling_runs_the_program_once_per_configuration_with_job_threads(skf_dir, tmp_path):
    program, log = _stand_in(tmp_path, fail=False)
    scratch = tmp_path / "scratch"
    options = {"skf_dir": str(skf_dir), "binary": str(program), "scratch_dir": str(scratch)}
    frames = [molecule("H2O"), molecule("CH4")]
    labelled, report = label_frames(frames, "dftb", "dftbplus", options, threads=2)

    assert report.failures == [] and len(labelled) == 2
    calls = log.read_text().splitlines()
    assert len(calls) == 2  # energy and forces from one run each
    threads, folders = zip(*(line.split() for line in calls), strict=True)
    assert threads == ("2", "2") and len(set(folders)) == 2
    assert all(Path(folder).parent == scratch for folder in folders)
    assert list(scratch.iterdir()) == []  # successful scratch folders are removed
    # The force-related (Mermin) energy, not ASE's "Total energy".
    assert labelled[0].info["dftb_energy"] == pytest.approx(-1.001 * Hartree)
    np.testing.assert_allclose(labelled[1].arrays["dftb_forces"][:, 0], 0.01 * np.arange(5) * Hartree / Bohr)


def test_a_failed_run_is_reported_and_its_scratch_folder_kept(skf_dir, tmp_path):
    program, _ = _stand_in(tmp_path, fail=True)
    scratch = tmp_path / "scratch"
    options = {"skf_dir": str(skf_dir), "binary": str(program), "scratch_dir": str(scratch)}
    labelled, report = label_frames([molecule("H2O")], "dftb", "dftbplus", options)
    assert labelled == [] and len(report.failures) == 1
    assert "CalculationFailed" in report.failures[0].error
    (kept,) = scratch.iterdir()
    assert (kept / "dftb_in.hsd").is_file()


SHIPPED_3OB = REPO / "resources" / "skf" / "3ob-3-1"


def test_dftb3_recipe_writes_third_order_keys_for_the_elements_present(tmp_path):
    options = {"skf_dir": str(SHIPPED_3OB), "recipe": "dftb3_3ob"}
    ham = parse_hsd(write_input(molecule("H2O"), options, tmp_path / "w").read_text())["Hamiltonian"]
    assert ham["ThirdOrderFull"] == "Yes"
    assert ham["HCorrection"] == {"_type": "Damping", "_lines": [], "Exponent": "4.0"}
    # Only H and O: DFTB+ stops on derivatives of species the geometry lacks (IgnoreUnprocessedNodes = No).
    assert {k: float(v) for k, v in ham["HubbardDerivs"].items() if not k.startswith("_")} == {
        "H": -0.1857,
        "O": -0.1575,
    }
    override = {**options, "hubbard_derivs": {"O": -0.16}}
    ham = parse_hsd(write_input(molecule("H2O"), override, tmp_path / "o").read_text())["Hamiltonian"]
    assert float(ham["HubbardDerivs"]["O"]) == -0.16 and float(ham["HubbardDerivs"]["H"]) == -0.1857


def test_recipe_mistakes_name_the_option_or_element(skf_dir, tmp_path):
    with pytest.raises(LabellerError, match="recipe 'dftb4' is not one of dftb2, dftb3_3ob"):
        make_calculator({"skf_dir": str(skf_dir), "recipe": "dftb4"})
    with pytest.raises(LabellerError, match="hubbard_derivs need a third-order recipe"):
        make_calculator({"skf_dir": str(skf_dir), "hubbard_derivs": {"H": -0.1}})
    with pytest.raises(LabellerError, match="recipe 'dftb3_3ob' has no Hubbard derivative for Li; give it"):
        write_input(
            Atoms("LiH", positions=[[0, 0, 0], [0, 0, 1.6]]),
            {"skf_dir": str(skf_dir), "recipe": "dftb3_3ob"},
            tmp_path / "x",
        )


def test_schema_checks_dftbplus_options_by_key():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    check_config(copy.deepcopy(config), REPO / "workflow" / "schemas" / "config.schema.yaml")
    fidelity = config["datasets"]["qm7x"]["fidelities"]["dftb"]
    fidelity["options"]["recipe"] = "dftb3"
    with pytest.raises(
        ConfigError, match=r"'datasets\.qm7x\.fidelities\.dftb\.options\.recipe': 'dftb3' is not one of"
    ):
        check_config(copy.deepcopy(config), REPO / "workflow" / "schemas" / "config.schema.yaml")
    fidelity["options"] = {"recipe": "dftb3_3ob"}
    with pytest.raises(ConfigError, match=r"options': 'skf_dir' is a required property"):
        check_config(copy.deepcopy(config), REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_shipped_3ob_files_unpack_once_to_the_published_files(tmp_path):
    packed = sorted(p.name for p in SHIPPED_3OB.glob("*.skf.gz"))
    assert len(packed) == 16 and (SHIPPED_3OB / "LICENSE").is_file() and (SHIPPED_3OB / "README").is_file()
    plain = plain_skf_dir(SHIPPED_3OB)
    assert plain != SHIPPED_3OB and plain_skf_dir(SHIPPED_3OB) == plain
    assert sorted(p.name for p in plain.iterdir()) == [name[:-3] for name in packed]
    assert skf_elements(SHIPPED_3OB) == {"H", "C", "N", "O"}
    published = REPO.parent / "shared" / "skf" / "3ob-3-1"
    if published.is_dir():  # the copy the files were gzipped from
        for path in plain.iterdir():
            assert path.read_bytes() == (published / path.name).read_bytes(), path.name
    assert max_angular_momentum(plain / "O-O.skf") == "p" and max_angular_momentum(plain / "H-H.skf") == "s"


PLANNED_ENVS = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

snakefile, workdir, configfile = sys.argv[1:]
with SnakemakeApi(OutputSettings()) as api:
    workflow_api = api.workflow(
        resource_settings=ResourceSettings(cores=1), config_settings=ConfigSettings(configfiles=[Path(configfile)]),
        snakefile=Path(snakefile), workdir=Path(workdir))
    workflow_api.dag()
    workflow = workflow_api._workflow
    workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True)
    workflow._build_dag()
    planned = sorted({(job.rule.name, job.wildcards_dict.get("fidelity", ""),
                       Path(job.conda_env_spec.file.get_path_or_uri(secret_free=True)).name)
                      for job in workflow.dag.jobs if job.conda_env_spec})
print("PLANNED", json.dumps(planned))
"""


def test_planned_labelling_jobs_use_their_labellers_conda_environment(tiny_source, tmp_path):
    """The conda environment of every planned job, read from Snakemake's DAG (conda itself is not
    needed to plan, and conda-forge cannot be reached here to create environments)."""
    from conftest import tiny_config

    config = tiny_config(tiny_source, methods=["mftl"], epoch_caps=[1])
    dftb = copy.deepcopy(config["datasets"]["tiny"])
    dftb["fidelities"]["dftb3"] = {
        "labeller": "dftbplus",
        "options": {"skf_dir": str(SHIPPED_3OB), "recipe": "dftb3_3ob"},
    }
    dftb["low_fidelity"] = "dftb3"
    config["datasets"]["tiny_dftb"] = dftb
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-c", PLANNED_ENVS, str(REPO / "Snakefile"), str(tmp_path), str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    planned = json.loads(result.stdout.split("PLANNED", 1)[1])
    envs = {(rule, fidelity): env for rule, fidelity, env in planned}
    assert envs[("label", "dftb3")] == "dftbplus.yaml"
    assert envs[("label", "gfn1")] == "labelling.yaml"
    assert envs[("collect", "dftb3")] == "labelling.yaml"  # gathering needs no dftb+
    runs_labeller = {(rule, f) for rule, f, env in planned if f == "dftb3" and rule not in ("collect",)}
    assert all(envs[key] == "dftbplus.yaml" for key in runs_labeller), planned


def test_the_demo_overlay_compares_two_pretraining_fidelities_of_the_same_configurations():
    from snakemake.utils import update_config

    from mftl.planning.figure_catalogue import pretraining_fidelity_groups

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / "demo_dftb.yaml").read_text()))
    check_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert pretraining_fidelity_groups(config["datasets"]) == {"demo": ["demo", "demo_dftb3"]}
    demo, dftb3 = config["datasets"]["demo"], config["datasets"]["demo_dftb3"]
    assert {k: v for k, v in dftb3.items() if k not in ("fidelities", "low_fidelity", "methods")} == {
        k: v for k, v in demo.items() if k in dftb3 and k not in ("fidelities", "low_fidelity", "methods")
    }
    assert dftb3["fidelities"]["dftb3"]["options"]["recipe"] == "dftb3_3ob"
    other_split = copy.deepcopy(config)
    other_split["datasets"]["demo_dftb3"]["split"]["seed"] = 1  # other test configurations: not comparable
    assert pretraining_fidelity_groups(other_split["datasets"]) == {}


def test_the_pretraining_fidelity_figure_needs_two_low_fidelities():
    import pandas as pd

    from mftl.report import plots

    rows = [
        {
            "dataset": "demo",
            "method": "mftl",
            "fidelities": "gfn1->pbe0",
            "pretrain_size": 100,
            "epoch_cap": 3,
            "train_size": n,
            "seed": 0,
            "energy_rmse_meV_atom": 10.0 / n,
            "forces_rmse_meV_A": 100.0 / n,
            "energy_mae_meV_atom": 1.0,
            "forces_mae_meV_A": 1.0,
            "n_test": 5,
        }
        for n in (10, 20)
    ]
    with pytest.raises(plots.FigureSkipped, match="1 pre-training fidelity"):
        plots.pretraining_fidelity(pd.DataFrame(rows))
    other = [{**row, "dataset": "demo_dftb3", "fidelities": "dftb3->pbe0"} for row in rows]
    figure = plots.pretraining_fidelity(pd.DataFrame(rows + other))
    assert figure.axes[0].get_legend_handles_labels()[1] == [
        "pre-trained on gfn1 (pre 100, best cap 3)",
        "pre-trained on dftb3 (pre 100, best cap 3)",
    ]
