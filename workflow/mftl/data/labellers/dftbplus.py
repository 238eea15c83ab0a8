"""SCC-DFTB through DFTB+ (ASE's ``Dftb`` calculator): DFTB2 with PTBP, or DFTB3 with 3ob.

Two recipes, chosen with the ``recipe`` option:

* ``dftb2`` (default) -- plain SCC-DFTB2, as the paper used it with PTBP
  (Cui, Reuter, Margraf, JCTC 20, 5276 (2024); files from Zenodo record
  10677796, the ``ptbp`` download of ``config/paper.yaml``);
* ``dftb3_3ob`` -- full DFTB3 for the 3ob set: ``ThirdOrderFull``, the set's
  Hubbard derivatives (:data:`HUBBARD_DERIVS_3OB`, Hartree/e) and the X-H
  damping ``HCorrection = Damping {Exponent = 4.0}``; the H/C/N/O files of
  3ob-3-1 ship in ``resources/skf/3ob-3-1``.

Options (all optional except ``skf_dir``):

* ``skf_dir`` -- folder of the ``X-Y.skf`` files (or ``X-Y.skf.gz``, unpacked
  once into a cache folder, see :mod:`mftl.data.labellers.skf`);
* ``recipe`` -- ``dftb2`` or ``dftb3_3ob``; ``hubbard_derivs`` -- ``{element:
  Hartree/e}`` added to or replacing the recipe's (DFTB3 only);
* ``temperature_k`` -- electronic temperature of the Fermi filling in K
  (default 1000 K for periodic cells, where metals need smearing for a stable
  SCC; 300 K for molecules, which have a gap);
* ``kpts`` -- Monkhorst-Pack grid ``[n1, n2, n3]`` for periodic cells, or
  ``kpts_density`` -- points per 1/Angstrom as in ASE (default 5.0), the grid
  then follows each cell's reciprocal lattice vectors;
* ``scc_tolerance`` (default 1e-6 e), ``max_scc_iterations`` (default 200); a
  configuration whose SCC does not converge within them fails (DFTB+ stops)
  and is reported with its id;
* ``max_angular_momentum`` -- ``{"W": "d"}`` to override what the SKF headers say;
* ``scratch_dir`` -- root under which each calculation gets a fresh folder
  (default: the system temporary folder); ``keep_scratch`` (default False)
  keeps the folders of successful calculations (failed ones are always kept);
* ``binary`` -- the DFTB+ executable (default ``dftb+``);
* ``ignore_unprocessed_nodes`` (default False) -- ASE asks DFTB+ to ignore
  input keys it does not use, which hides misspellings; this labeller asks it
  to stop on them instead;
* ``extra`` -- further ASE-style ``Dftb`` keywords, e.g.
  ``{"Hamiltonian_ShellResolvedSCC": "Yes"}`` (filling, k-points, angular
  momenta and the recipe's keys come from the options above, not from ``extra``).

A configuration whose elements lack a pair file fails on its own, with an
error naming the pair; the other configurations of the chunk are labelled.

The input declares ``ParserVersion = 13`` (DFTB+ 23.1): from ASE's default 1
DFTB+ converts the input as if it were from 2006, which silently switches on
shell-resolved SCC and the legacy finite-difference step and makes the 3ob
``HubbardDerivs`` block fail to parse; with 14 (DFTB+ 24.1 and 25.1) the
``Analysis { CalculateForces = Yes }`` that ASE writes is an unknown key
(renamed ``PrintForces``). From 13 DFTB+ 24.1+ converts exactly that rename.

The energy returned is DFTB+'s "Force related energy" (the Mermin free energy
for Fermi filling), so that energies, forces and stress of a configuration
agree; ASE's own reader returns the total energy, which differs from it by the
electronic entropy term.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.calculators.calculator import CalculationFailed, all_changes, kptdensity2monkhorstpack
from ase.calculators.dftb import Dftb
from ase.data import chemical_symbols
from ase.units import Hartree

from mftl.data.labellers import LabellerError
from mftl.data.labellers.skf import ANGULAR_MOMENTA, max_angular_momentum, missing_pairs, plain_skf_dir, skf_elements

PTBP_ZENODO_RECORD = 10677796
#: PTBP's element range, assumed from the paper (H-La and Hf-Bi, no lanthanides
#: after La) and not checked against the record: with ``skf_dir`` the files decide.
PTBP_ELEMENTS = frozenset(chemical_symbols[1:58] + chemical_symbols[72:84])

#: HSD parser version of DFTB+ 23.1 (see the module docstring for why neither ASE's 1 nor 14).
PARSER_VERSION = 13
DEFAULT_TEMPERATURE_K = {"periodic": 1000.0, "molecule": 300.0}

#: Hubbard derivatives (Hartree/e) of the 3ob-3-1 set, from the set's README.
HUBBARD_DERIVS_3OB = {
    "Br": -0.0573,
    "C": -0.1492,
    "Ca": -0.0340,
    "Cl": -0.0697,
    "F": -0.1623,
    "H": -0.1857,
    "I": -0.0433,
    "K": -0.0339,
    "Mg": -0.02,
    "N": -0.1535,
    "Na": -0.0454,
    "O": -0.1575,
    "P": -0.14,
    "S": -0.11,
    "Zn": -0.03,
}
#: recipe -> structure-independent ASE keywords (DFTB3's Hubbard derivatives are added per structure).
RECIPES: dict[str, dict[str, Any]] = {
    "dftb2": {},
    "dftb3_3ob": {
        "Hamiltonian_ThirdOrderFull": "Yes",
        "Hamiltonian_HCorrection_": "Damping",
        "Hamiltonian_HCorrection_Exponent": 4.0,
    },
}
#: recipe -> default Hubbard derivatives; recipes absent here are second order.
RECIPE_HUBBARD_DERIVS = {"dftb3_3ob": HUBBARD_DERIVS_3OB}

DEFAULTS: dict[str, Any] = {
    "skf_dir": None,
    "recipe": "dftb2",
    "hubbard_derivs": {},
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

_ENERGY_LINES = (  # detailed.out, in order of preference; values in Hartree
    re.compile(r"^\s*Force related energy:\s*(\S+)\s+H\b", re.MULTILINE),
    re.compile(r"^\s*Total Mermin free energy:\s*(\S+)\s+H\b", re.MULTILINE),
)


def supported_elements(skf_dir: str | os.PathLike | None = None) -> frozenset[str]:
    """Elements with a homonuclear SKF in ``skf_dir``, or PTBP's published range without one."""
    if skf_dir is not None and Path(skf_dir).is_dir():
        return skf_elements(skf_dir)
    return PTBP_ELEMENTS


#: ``DFTB_PREFIX`` is the variable ASE itself reads for the SKF folder.
SUPPORTED_ELEMENTS = supported_elements(os.environ.get("DFTB_PREFIX"))


def supported_elements_for(options: dict[str, Any]) -> frozenset[str]:
    """Elements of the option ``skf_dir``'s homonuclear files (PTBP's range without a folder)."""
    return supported_elements(options.get("skf_dir"))


def force_consistent_energy(detailed_out: str | os.PathLike) -> float | None:
    """Energy (eV) whose gradient DFTB+ reports as forces, read from ``detailed.out``."""
    text = Path(detailed_out).read_text()
    for pattern in _ENERGY_LINES:
        match = pattern.search(text)
        if match:
            return float(match.group(1)) * Hartree
    return None


def dftb_error(output: str | os.PathLike) -> str:
    """DFTB+'s own error message (the lines after ``ERROR!``) from its standard output, or ''."""
    path = Path(output)
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "ERROR!":
            return " ".join(x.strip().lstrip("-> ").strip() for x in lines[index + 1 : index + 4] if x.strip())
    return ""


@dataclass
class DftbSettings:
    """Validated labeller options (see the module docstring for their meaning)."""

    skf_dir: Path
    recipe: str = "dftb2"
    hubbard_derivs: dict[str, float] = field(default_factory=dict)
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
    def from_options(cls, options: dict[str, Any]) -> DftbSettings:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise LabellerError(f"dftbplus: unknown option(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
        merged = {**DEFAULTS, **options}
        if not merged["skf_dir"]:
            raise LabellerError("dftbplus: option 'skf_dir' (folder of the .skf files) is required")
        skf_dir = Path(merged["skf_dir"]).resolve()
        if not skf_dir.is_dir():
            raise LabellerError(f"dftbplus: skf_dir {skf_dir} is not a folder")
        if merged["recipe"] not in RECIPES:
            raise LabellerError(f"dftbplus: recipe '{merged['recipe']}' is not one of {', '.join(RECIPES)}")
        if merged["hubbard_derivs"] and merged["recipe"] not in RECIPE_HUBBARD_DERIVS:
            raise LabellerError(f"dftbplus: hubbard_derivs need a third-order recipe, not '{merged['recipe']}'")
        kpts = merged["kpts"]
        if kpts is not None:
            kpts = tuple(int(n) for n in kpts)
            if len(kpts) != 3 or min(kpts) < 1:
                raise LabellerError(f"dftbplus: kpts must be three positive integers, got {merged['kpts']}")
        for symbol, shell in merged["max_angular_momentum"].items():
            if shell not in ANGULAR_MOMENTA:
                raise LabellerError(f"dftbplus: max_angular_momentum of {symbol} must be one of s, p, d, f")
        scratch = None if merged["scratch_dir"] is None else Path(merged["scratch_dir"])
        return cls(
            skf_dir=plain_skf_dir(skf_dir),
            recipe=merged["recipe"],
            hubbard_derivs={**RECIPE_HUBBARD_DERIVS.get(merged["recipe"], {}), **merged["hubbard_derivs"]},
            temperature_k=None if merged["temperature_k"] is None else float(merged["temperature_k"]),
            kpts=kpts,
            kpts_density=float(merged["kpts_density"]),
            scc_tolerance=float(merged["scc_tolerance"]),
            max_scc_iterations=int(merged["max_scc_iterations"]),
            max_angular_momentum=dict(merged["max_angular_momentum"]),
            scratch_dir=scratch,
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
            **RECIPES[self.recipe],
        }

    def structure_parameters(self, atoms: Atoms) -> dict[str, Any]:
        """Keywords that depend on the structure: angular momenta, Hubbard derivatives, filling, k-points."""
        symbols = sorted(set(atoms.get_chemical_symbols()))
        missing = missing_pairs(self.skf_dir, symbols)
        if missing:
            raise LabellerError(
                f"dftbplus: no Slater-Koster file for the pair(s) {', '.join(missing)} "
                f"({missing[0]}.skf is not in {self.skf_dir})"
            )
        params: dict[str, Any] = {"Hamiltonian_MaxAngularMomentum_": ""}
        for symbol in symbols:
            shell = self.max_angular_momentum.get(symbol) or max_angular_momentum(
                self.skf_dir / f"{symbol}-{symbol}.skf"
            )
            params[f"Hamiltonian_MaxAngularMomentum_{symbol}"] = f'"{shell}"'
        if self.recipe in RECIPE_HUBBARD_DERIVS:
            lacking = [s for s in symbols if s not in self.hubbard_derivs]
            if lacking:
                raise LabellerError(
                    f"dftbplus: recipe '{self.recipe}' has no Hubbard derivative for "
                    f"{', '.join(lacking)}; give it in the option hubbard_derivs"
                )
            params["Hamiltonian_HubbardDerivs_"] = ""
            params.update({f"Hamiltonian_HubbardDerivs_{s}": self.hubbard_derivs[s] for s in symbols})
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


_STRUCTURE_KEYS = (
    "Hamiltonian_MaxAngularMomentum_",
    "Hamiltonian_HubbardDerivs_",
    "Hamiltonian_Filling_",
    "Hamiltonian_KPointsAndWeights_",
)


class LabellerDftb(Dftb):
    """ASE's Dftb that fills structure-dependent keywords in when it writes its input.

    Forces (and, for periodic cells, stress) are always computed with the
    energy (one dftb+ run per configuration), the energy is the
    force-consistent one, a failed run raises with DFTB+'s own error message,
    and the scratch folder of a successful calculation is removed unless asked
    to keep it.
    """

    def __init__(self, settings: DftbSettings, directory: str | os.PathLike, threads: int = 1) -> None:
        self.settings = settings
        # OMP_NUM_THREADS set in dftb+'s own environment only, not in the labelling process; DFTB+
        # wants a large stack (it warns otherwise), so the soft limit is raised to the hard one.
        command = (
            f'ulimit -s "$(ulimit -H -s)" 2>/dev/null; '
            f"OMP_NUM_THREADS={max(1, int(threads))} {shlex.quote(settings.binary)} > PREFIX.out 2>&1"
        )
        super().__init__(
            label="dftb",
            directory=str(directory),
            command=command,
            slako_dir=f"{settings.skf_dir}/",
            **settings.fixed_parameters(),
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
        try:
            super().calculate(atoms, ["energy", "forces"], system_changes)
        except CalculationFailed as err:
            message = dftb_error(Path(self.directory) / "dftb.out")
            if not message:
                raise
            raise CalculationFailed(f"dftb+: {message} (input and output kept in {self.directory})") from err
        if not self.settings.keep_scratch:
            shutil.rmtree(self.directory, ignore_errors=True)


def make_calculator(options: dict[str, Any], threads: int = 1) -> LabellerDftb:
    """A DFTB+ calculator with its own fresh scratch folder (one per configuration)."""
    settings = DftbSettings.from_options(options)
    root = settings.scratch_dir
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="dftbplus-", dir=root)
    return LabellerDftb(settings, directory, threads=threads)


def write_input(atoms: Atoms, options: dict[str, Any], directory: str | os.PathLike) -> Path:
    """Write ``dftb_in.hsd`` (and ``geo_end.gen``) for ``atoms`` into ``directory``, without running dftb+.

    The same code path as a real calculation; returns the path of ``dftb_in.hsd``.
    """
    calc = LabellerDftb(DftbSettings.from_options(options), directory)
    calc.write_input(atoms.copy(), ["energy", "forces"], all_changes)
    return Path(directory) / "dftb_in.hsd"
