"""SCC-DFTB through DFTB+ (ASE's ``Dftb`` calculator) with the PTBP Slater-Koster set.

PTBP: Cui, Reuter, Margraf, "Obtaining robust density functional
tight-binding parameters for solids across the periodic table", JCTC (2024);
files from Zenodo record 10677796, unpacked into the folder given as the
``skf_dir`` option (``X-Y.skf`` for every element pair).

Options (all optional except ``skf_dir``):

* ``skf_dir`` -- folder of the ``X-Y.skf`` files;
* ``temperature_k`` -- electronic temperature of the Fermi filling in K
  (default 1000 K for periodic cells, where metals need smearing for a
  stable SCC; 300 K for molecules, which have a gap);
* ``kpts`` -- Monkhorst-Pack grid ``[n1, n2, n3]`` for periodic cells, or
  ``kpts_density`` -- points per 1/Angstrom as in ASE (default 5.0), the
  grid then follows each cell's reciprocal lattice vectors;
* ``scc_tolerance`` (default 1e-6 e), ``max_scc_iterations`` (default 200);
* ``max_angular_momentum`` -- ``{"W": "d"}`` to override what the SKF headers say;
* ``scratch_dir`` -- root under which each calculation gets a fresh folder
  (default: the system temporary folder); ``keep_scratch`` (default False)
  keeps the folders of successful calculations (failed ones are always kept);
* ``binary`` -- the DFTB+ executable (default ``dftb+``);
* ``ignore_unprocessed_nodes`` (default False) -- ASE asks DFTB+ to ignore
  input keys it does not use, which hides misspellings; this labeller asks it
  to stop on them instead;
* ``extra`` -- further ASE-style ``Dftb`` keywords, e.g.
  ``{"Hamiltonian_ShellResolvedSCC": "Yes"}`` (filling, k-points and angular
  momenta come from the options above and are not taken from ``extra``).

``SUPPORTED_ELEMENTS`` are the elements with an ``X-X.skf`` in the folder that
``DFTB_PREFIX`` (ASE's variable) names, else PTBP's published range; a missing
pair file is reported per configuration when the input is written.

The input declares ``ParserVersion = 14`` (DFTB+ 24.1) instead of ASE's 1:
from version 1 DFTB+ converts the input as if it were from 2006, which
silently switches on orbital(shell)-resolved SCC whenever SCC is on and adds
the legacy finite-difference step (0.01 Bohr) for the SK derivatives.

The energy returned is DFTB+'s "Force related energy" (the Mermin free energy
for Fermi filling), so that energies and forces of a configuration agree;
ASE's own reader returns the total energy, which differs from it by the
electronic entropy term.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.calculators.calculator import all_changes, kptdensity2monkhorstpack
from ase.calculators.dftb import Dftb
from ase.data import chemical_symbols
from ase.units import Hartree

from mftl.labelers import LabellerError

PTBP_ZENODO_RECORD = 10677796
#: PTBP's element range, assumed from the paper (H-La and Hf-Bi, no lanthanides
#: after La) and not checked against the record: with ``skf_dir`` the files decide.
PTBP_ELEMENTS = frozenset(chemical_symbols[1:58] + chemical_symbols[72:84])

#: HSD parser version of DFTB+ 24.1 (see the module docstring for why not ASE's 1).
PARSER_VERSION = 14
ANGULAR_MOMENTA = "spdf"
DEFAULT_TEMPERATURE_K = {"periodic": 1000.0, "molecule": 300.0}

DEFAULTS: dict[str, Any] = {
    "skf_dir": None,
    "temperature_k": None,
    "kpts": None,
    "kpts_density": 5.0,
    "scc_tolerance": 1e-6,
    "max_scc_iterations": 200,
    "max_angular_momentum": {},
    "scratch_dir": None,
    "keep_scratch": False,
    "binary": "dftb+",
    "ignore_unprocessed_nodes": False,
    "extra": {},
}

_HOMONUCLEAR_SKF = re.compile(r"^([A-Z][a-z]?)-\1\.skf$")
_ENERGY_LINES = (  # detailed.out, in order of preference; values in Hartree
    re.compile(r"^\s*Force related energy:\s*(\S+)\s+H\b", re.MULTILINE),
    re.compile(r"^\s*Total Mermin free energy:\s*(\S+)\s+H\b", re.MULTILINE),
)


def skf_elements(skf_dir: str | os.PathLike) -> frozenset[str]:
    """Elements ``X`` for which ``skf_dir/X-X.skf`` exists."""
    return frozenset(
        m.group(1) for p in Path(skf_dir).iterdir()
        if (m := _HOMONUCLEAR_SKF.match(p.name)) and m.group(1) in chemical_symbols
    )


def supported_elements(skf_dir: str | os.PathLike | None = None) -> frozenset[str]:
    """Elements with a homonuclear SKF in ``skf_dir``, or PTBP's published range without one."""
    if skf_dir is not None and Path(skf_dir).is_dir():
        return skf_elements(skf_dir)
    return PTBP_ELEMENTS


#: ``DFTB_PREFIX`` is the variable ASE itself reads for the SKF folder.
SUPPORTED_ELEMENTS = supported_elements(os.environ.get("DFTB_PREFIX"))


def supported_elements_for(options: dict[str, Any]) -> frozenset[str]:
    """Elements of the labeller's ``skf_dir`` option (or ``DFTB_PREFIX``) when that folder exists."""
    return supported_elements(options.get("skf_dir") or os.environ.get("DFTB_PREFIX"))


def _skf_numbers(line: str) -> list[float]:
    """Numbers of an SKF line; commas and the ``n*value`` repeat notation are allowed."""
    values: list[float] = []
    for token in line.replace(",", " ").split():
        count, _, value = token.rpartition("*")
        values.extend([float(value)] * (int(count) if count else 1))
    return values


def max_angular_momentum(skf_path: str | os.PathLike) -> str:
    """Highest shell ("s", "p", "d" or "f") of the basis described by a homonuclear SKF.

    The line after the grid line holds onsite energies, the Hubbard values and
    occupations, highest shell first: ``Ed Ep Es SPE Ud Up Us fd fp fs``, or in
    the extended format (first line starting with ``@``) ``Ef Ed Ep Es SPE Uf
    Ud Up Us ff fd fp fs``. A shell belongs to the basis when its onsite energy
    is non-zero or it is occupied in the free atom: generators write zeros for
    shells outside the basis, while an empty valence shell (W 6p, say) still
    has an onsite energy. Occupations alone, as ASE reads them, would miss it.
    """
    path = Path(skf_path)
    with open(path) as handle:
        first = handle.readline()
        extended = first.startswith("@")
        if extended:
            handle.readline()  # grid line
        numbers = _skf_numbers(handle.readline())
    n_shells = 4 if extended else 3
    if len(numbers) < 3 * n_shells + 1:
        raise LabellerError(f"{path}: onsite line has {len(numbers)} values, expected {3 * n_shells + 1}")
    onsite = numbers[:n_shells]
    occupations = numbers[2 * n_shells + 1: 3 * n_shells + 1]
    for index, (energy, occupation) in enumerate(zip(onsite, occupations)):
        if energy != 0.0 or occupation > 0.0:
            return ANGULAR_MOMENTA[n_shells - 1 - index]
    raise LabellerError(f"{path}: no shell has a non-zero onsite energy or occupation")


def force_consistent_energy(detailed_out: str | os.PathLike) -> float | None:
    """Energy (eV) whose gradient DFTB+ reports as forces, read from ``detailed.out``."""
    text = Path(detailed_out).read_text()
    for pattern in _ENERGY_LINES:
        match = pattern.search(text)
        if match:
            return float(match.group(1)) * Hartree
    return None


@dataclass
class DftbSettings:
    """Validated labeller options (see the module docstring for their meaning)."""

    skf_dir: Path
    temperature_k: float | None = None
    kpts: tuple[int, int, int] | None = None
    kpts_density: float = 5.0
    scc_tolerance: float = 1e-6
    max_scc_iterations: int = 200
    max_angular_momentum: dict[str, str] = field(default_factory=dict)
    scratch_dir: Path | None = None
    keep_scratch: bool = False
    binary: str = "dftb+"
    ignore_unprocessed_nodes: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "DftbSettings":
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise LabellerError(f"dftbplus: unknown option(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
        merged = {**DEFAULTS, **options}
        if not merged["skf_dir"]:
            raise LabellerError("dftbplus: option 'skf_dir' (folder of the PTBP .skf files) is required")
        skf_dir = Path(merged["skf_dir"]).resolve()
        if not skf_dir.is_dir():
            raise LabellerError(f"dftbplus: skf_dir {skf_dir} is not a folder")
        kpts = merged["kpts"]
        if kpts is not None:
            kpts = tuple(int(n) for n in kpts)
            if len(kpts) != 3 or min(kpts) < 1:
                raise LabellerError(f"dftbplus: kpts must be three positive integers, got {merged['kpts']}")
        for symbol, shell in merged["max_angular_momentum"].items():
            if shell not in ANGULAR_MOMENTA:
                raise LabellerError(f"dftbplus: max_angular_momentum of {symbol} must be one of s, p, d, f")
        scratch = merged["scratch_dir"]
        return cls(
            skf_dir=skf_dir,
            temperature_k=None if merged["temperature_k"] is None else float(merged["temperature_k"]),
            kpts=kpts,
            kpts_density=float(merged["kpts_density"]),
            scc_tolerance=float(merged["scc_tolerance"]),
            max_scc_iterations=int(merged["max_scc_iterations"]),
            max_angular_momentum=dict(merged["max_angular_momentum"]),
            scratch_dir=None if scratch is None else Path(scratch),
            keep_scratch=bool(merged["keep_scratch"]),
            binary=str(merged["binary"]),
            ignore_unprocessed_nodes=bool(merged["ignore_unprocessed_nodes"]),
            extra=dict(merged["extra"]),
        )

    def fixed_parameters(self) -> dict[str, Any]:
        """ASE ``Dftb`` keywords that do not depend on the structure."""
        return {
            "Hamiltonian_SCC": "Yes",
            "Hamiltonian_SCCTolerance": self.scc_tolerance,
            "Hamiltonian_MaxSCCIterations": self.max_scc_iterations,
            # Quoted so that a folder name with spaces survives; absolute because dftb+ runs in the scratch folder.
            "Hamiltonian_SlaterKosterFiles_Prefix": f'"{self.skf_dir}/"',
            "ParserOptions_ParserVersion": PARSER_VERSION,
            "ParserOptions_IgnoreUnprocessedNodes": "Yes" if self.ignore_unprocessed_nodes else "No",
            **self.extra,
        }

    def structure_parameters(self, atoms: Atoms) -> dict[str, Any]:
        """Keywords that depend on the structure: angular momenta, filling, k-points."""
        symbols = sorted(set(atoms.get_chemical_symbols()))
        for a, b in combinations_with_replacement(symbols, 2):
            for pair in {f"{a}-{b}.skf", f"{b}-{a}.skf"}:
                if not (self.skf_dir / pair).is_file():
                    raise LabellerError(f"dftbplus: Slater-Koster file {self.skf_dir / pair} is missing")
        params: dict[str, Any] = {"Hamiltonian_MaxAngularMomentum_": ""}
        for symbol in symbols:
            shell = self.max_angular_momentum.get(symbol) or max_angular_momentum(self.skf_dir / f"{symbol}-{symbol}.skf")
            params[f"Hamiltonian_MaxAngularMomentum_{symbol}"] = f'"{shell}"'
        periodic = bool(atoms.pbc.any())
        temperature = self.temperature_k
        if temperature is None:
            temperature = DEFAULT_TEMPERATURE_K["periodic" if periodic else "molecule"]
        params["Hamiltonian_Filling_"] = "Fermi"
        params["Hamiltonian_Filling_Temperature [Kelvin]"] = temperature
        if periodic:
            params.update(supercell_folding(self.monkhorst_pack_size(atoms)))
        return params

    def monkhorst_pack_size(self, atoms: Atoms) -> tuple[int, int, int]:
        if self.kpts is not None:
            return self.kpts
        return tuple(int(n) for n in kptdensity2monkhorstpack(atoms, kptdensity=self.kpts_density, even=False))


def supercell_folding(size: tuple[int, int, int]) -> dict[str, str]:
    """``KPointsAndWeights = SupercellFolding`` keywords of a Monkhorst-Pack grid.

    DFTB+'s grid is Gamma-centred before the shift; a shift of 0.5 along
    even divisions gives the Monkhorst-Pack points.
    """
    key = "Hamiltonian_KPointsAndWeights"
    params = {f"{key}_": "SupercellFolding "}
    for axis, n in enumerate(size):
        params[f"{key}_empty{axis:03d}"] = " ".join(str(n if j == axis else 0) for j in range(3))
    params[f"{key}_empty003"] = " ".join("0.5" if n % 2 == 0 else "0.0" for n in size)
    return params


_STRUCTURE_KEYS = ("Hamiltonian_MaxAngularMomentum_", "Hamiltonian_Filling_", "Hamiltonian_KPointsAndWeights_")


class PtbpDftb(Dftb):
    """ASE's Dftb that fills structure-dependent keywords in when it writes its input.

    Forces are always computed with the energy (one dftb+ run per
    configuration), the energy is the force-consistent one, and the scratch
    folder of a successful calculation is removed unless asked to keep it.
    """

    def __init__(self, settings: DftbSettings, directory: str | os.PathLike, threads: int = 1) -> None:
        self.settings = settings
        # OMP_NUM_THREADS set in dftb+'s own environment only, not in the labelling process.
        command = f"OMP_NUM_THREADS={max(1, int(threads))} {shlex.quote(settings.binary)} > PREFIX.out"
        super().__init__(
            label="dftb", directory=str(directory), command=command,
            slako_dir=f"{settings.skf_dir}/", **settings.fixed_parameters(),
        )

    def write_input(self, atoms, properties=None, system_changes=None):
        for key in [k for k in self.parameters if k.startswith(_STRUCTURE_KEYS)]:
            del self.parameters[key]
        self.parameters.update(self.settings.structure_parameters(atoms))
        super().write_input(atoms, ["energy", "forces"], system_changes)

    def read_results(self):
        super().read_results()
        energy = force_consistent_energy(Path(self.directory) / "detailed.out")
        if energy is not None:
            self.results["energy"] = self.results["free_energy"] = energy

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, ["energy", "forces"], system_changes)
        if not self.settings.keep_scratch:
            shutil.rmtree(self.directory, ignore_errors=True)


def make_calculator(options: dict[str, Any], threads: int = 1) -> PtbpDftb:
    """A DFTB+ calculator with its own fresh scratch folder (one per configuration)."""
    settings = DftbSettings.from_options(options)
    root = settings.scratch_dir
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="dftbplus-", dir=root)
    return PtbpDftb(settings, directory, threads=threads)


def write_input(atoms: Atoms, options: dict[str, Any], directory: str | os.PathLike) -> Path:
    """Write ``dftb_in.hsd`` (and ``geo_end.gen``) for ``atoms`` into ``directory``, without running dftb+.

    The same code path as a real calculation; returns the path of ``dftb_in.hsd``.
    """
    calc = PtbpDftb(DftbSettings.from_options(options), directory)
    calc.write_input(atoms.copy(), ["energy", "forces"], all_changes)
    return Path(directory) / "dftb_in.hsd"
