"""`make dftbplus` (tools/build_dftbplus.sh): what it checks before building, and its cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "build_dftbplus.sh"
VENDORED = REPO.parent / "shared" / "vendor" / "dftbplus-25.1-src.tar.gz"
VENDORED_SHA256 = "be4728b264ed0b96255e96dae43dc7f056a4ce6277688e607c15ebfd5f365397"


def _run(args: list[str], path: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run(["/bin/bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def _path_without_dftbplus() -> str:
    """PATH minus every folder that holds a dftb+ (the project's .venv/bin among them)."""
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "dftb+").exists())


def _path_without_build_tools(tmp_path: Path) -> str:
    """A PATH with a shell and coreutils but no compilers or cmake (a fresh machine)."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("bash", "env", "sha256sum", "cut", "mkdir", "tar", "make"):
        if shutil.which(name):
            (tools / name).symlink_to(shutil.which(name))
    return str(tools)


def test_missing_build_tools_are_named_and_nothing_is_built(tmp_path):
    result = _run([str(VENDORED), "", str(tmp_path / "venv")], _path_without_build_tools(tmp_path), tmp_path / "cache")
    assert result.returncode == 1
    assert "missing build tools: gfortran cc cmake" in result.stderr
    assert "apt-get install gfortran" in result.stderr and "conda install" in result.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "venv").exists()


def test_a_dftb_on_path_is_used_and_nothing_is_built(tmp_path):
    found = tmp_path / "conda-bin"
    found.mkdir()
    (found / "dftb+").write_text("#!/bin/sh\n")
    (found / "dftb+").chmod(0o755)
    result = _run(
        ["https://example.invalid/dftbplus.tar.xz", "", str(tmp_path / "venv")],
        f"{found}:{_path_without_dftbplus()}",
        tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert f"using {found}/dftb+ from PATH; nothing to build" in result.stdout
    assert not (tmp_path / "cache").exists() and not (tmp_path / "venv").exists()


@pytest.mark.parametrize("tools", ["with build tools", "without build tools"])
def test_a_wrong_checksum_stops_before_building(tmp_path, tools):
    """A wrong archive is refused before anything else, also on a machine without gfortran or cmake, where
    it once reported the missing tools instead (and `make test` failed on a fresh machine)."""
    if not VENDORED.is_file():
        pytest.skip(f"{VENDORED} is not here")
    path = _path_without_dftbplus() if tools == "with build tools" else _path_without_build_tools(tmp_path)
    result = _run([str(VENDORED), "0" * 64, str(tmp_path / "venv")], path, tmp_path / "cache")
    assert result.returncode == 1
    assert f"has sha256 {VENDORED_SHA256}, expected {'0' * 64} (DFTBPLUS_SHA256)" in result.stderr
    assert "missing build tools" not in result.stderr
    assert not list((tmp_path / "cache" / "mftl").glob("dftbplus-*"))


def test_a_cached_build_is_installed_into_a_fresh_environment_without_rebuilding(tmp_path):
    """What CI relies on: a clean clone reuses the build cached by the archive's sha256."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    if not (cache / "mftl" / f"dftbplus-{VENDORED_SHA256}" / ".complete").is_file():
        message = "no cached DFTB+ build of the vendored source (`make dftbplus DFTBPLUS_SRC=...` makes it)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {message}")
        pytest.skip(message)
    start = time.perf_counter()
    result = _run([str(VENDORED), VENDORED_SHA256, str(tmp_path / "venv")], _path_without_dftbplus(), cache)
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - start < 30 and "building" not in result.stdout
    binary = tmp_path / "venv" / "bin" / "dftb+"
    run = subprocess.run([str(binary)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (
        "DFTB+" in run.stdout and "No input file" in run.stdout
    )  # it runs (a `git archive` source says "development version")
    again = _run([str(VENDORED), VENDORED_SHA256, str(tmp_path / "venv")], _path_without_dftbplus(), cache)
    assert again.returncode == 0 and "exists; nothing to do" in again.stdout
