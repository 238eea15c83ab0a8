"""Molecular DFT / wavefunction labels with PySCF, wrapped as an ASE calculator.

Closed-shell molecules only: restricted Kohn-Sham (``method: dft``, functional
``xc``) or coupled cluster on a restricted Hartree-Fock reference
(``method: ccsd(t)``, all electrons correlated, analytic CCSD(T) gradient from
``pyscf.grad.ccsd_t``). An SCF or CCSD that does not converge raises
:class:`ase.calculators.calculator.CalculationFailed`.
"""

from __future__ import annotations

from typing import Any

from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.units import Bohr, Hartree

#: elements with the standard Pople / Dunning bases used here
SUPPORTED_ELEMENTS = frozenset(
    ["H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar"]
)

DEFAULTS = {"method": "dft", "xc": "pbe0", "basis": "6-31g*", "density_fit": True, "conv_tol": 1e-9, "max_cycle": 100}

METHODS = ("dft", "ccsd(t)")


class PySCFCalculator(Calculator):
    """Energy (eV) and analytic forces (eV/A) from a PySCF RKS or CCSD(T) calculation."""

    implemented_properties = ["energy", "forces"]
    default_parameters = dict(DEFAULTS)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from pyscf import gto

        p = self.parameters
        mol = gto.M(
            atom=[(s, tuple(x)) for s, x in zip(self.atoms.get_chemical_symbols(), self.atoms.positions)],
            basis=p.basis,
            unit="Angstrom",
            charge=int(round(sum(self.atoms.get_initial_charges()))),
            verbose=0,
        )
        if p.method == "dft":
            energy, gradient = _rks(mol, p)
        elif p.method == "ccsd(t)":
            energy, gradient = _ccsd_t(mol, p)
        else:
            raise ValueError(f"pyscf labeller: unknown method '{p.method}' (known: {', '.join(METHODS)})")
        self.results["energy"] = float(energy) * Hartree
        self.results["forces"] = -gradient * Hartree / Bohr


def _rks(mol, p):
    from pyscf import dft

    mf = dft.RKS(mol)
    mf.xc = p.xc
    mf.conv_tol = p.conv_tol
    mf.max_cycle = p.max_cycle
    if p.density_fit:
        mf = mf.density_fit()
    energy = mf.kernel()
    if not mf.converged:
        raise CalculationFailed(f"PySCF SCF not converged in {p.max_cycle} cycles")
    return energy, mf.nuc_grad_method().kernel()


def _ccsd_t(mol, p):
    """CCSD(T) energy and analytic gradient (Hartree, Hartree/Bohr); no density fitting.

    The gradient needs the (T)-modified lambda amplitudes (``ccsd_t_lambda``): with
    the plain CCSD lambdas ``pyscf.grad.ccsd_t`` returns a gradient that misses
    the (T) response (7% off finite differences for water here).
    """
    from pyscf import cc, scf
    from pyscf.cc import ccsd_t_lambda
    from pyscf.grad import ccsd_t as ccsd_t_grad

    mf = scf.RHF(mol)
    mf.conv_tol = p.conv_tol
    mf.max_cycle = p.max_cycle
    mf.kernel()
    if not mf.converged:
        raise CalculationFailed(f"PySCF HF not converged in {p.max_cycle} cycles")
    mycc = cc.CCSD(mf)
    mycc.conv_tol = min(1e-8, 10 * p.conv_tol)
    mycc.kernel()
    if not mycc.converged:
        raise CalculationFailed("PySCF CCSD amplitudes not converged")
    eris = mycc.ao2mo()
    energy = mycc.e_tot + mycc.ccsd_t(eris=eris)
    converged, l1, l2 = ccsd_t_lambda.kernel(mycc, eris, mycc.t1, mycc.t2, verbose=0)
    if not converged:
        raise CalculationFailed("PySCF CCSD(T) lambda equations not converged")
    return energy, ccsd_t_grad.Gradients(mycc).kernel(mycc.t1, mycc.t2, l1, l2, eris=eris)


#: unpaired electrons of each supported element's ground state (Hund's rule), for isolated-atom energies
UNPAIRED_ELECTRONS = {
    "H": 1,
    "He": 0,
    "Li": 1,
    "Be": 0,
    "B": 1,
    "C": 2,
    "N": 3,
    "O": 2,
    "F": 1,
    "Ne": 0,
    "Na": 1,
    "Mg": 0,
    "Al": 1,
    "Si": 2,
    "P": 3,
    "S": 2,
    "Cl": 1,
    "Ar": 0,
}


def atom_energy(symbol: str, options: dict[str, Any], threads: int = 1) -> float:
    """Energy (eV) of the isolated atom ``symbol`` with the labeller's method and basis.

    Spin-unrestricted (UKS, or UHF + UCCSD(T)) with the ground state's spin by
    Hund's rule (:data:`UNPAIRED_ELECTRONS`); the molecules the labeller computes are
    closed-shell restricted, so these are the same method's atomic limits.
    """
    from pyscf import cc, dft, gto, lib, scf

    from mftl.data.labellers import LabellerError

    p = {**DEFAULTS, **options}
    if symbol not in UNPAIRED_ELECTRONS:
        raise LabellerError(f"pyscf labeller: no isolated-atom spin for element {symbol}")
    lib.num_threads(threads)
    mol = gto.M(atom=[(symbol, (0.0, 0.0, 0.0))], basis=p["basis"], spin=UNPAIRED_ELECTRONS[symbol], verbose=0)
    if p["method"] == "dft":
        mf = dft.UKS(mol)
        mf.xc = p["xc"]
    elif p["method"] == "ccsd(t)":
        mf = scf.UHF(mol)
    else:
        raise LabellerError(f"pyscf labeller: unknown method '{p['method']}' (known: {', '.join(METHODS)})")
    mf.conv_tol, mf.max_cycle = p["conv_tol"], p["max_cycle"]
    if p["method"] == "dft" and p["density_fit"]:
        mf = mf.density_fit()
    energy = mf.kernel()
    if not mf.converged:
        raise CalculationFailed(f"PySCF SCF of the isolated {symbol} atom not converged in {p['max_cycle']} cycles")
    if p["method"] == "ccsd(t)" and mol.nelectron > 1:
        mycc = cc.UCCSD(mf)
        mycc.conv_tol = min(1e-8, 10 * p["conv_tol"])
        mycc.kernel()
        if not mycc.converged:
            raise CalculationFailed(f"PySCF UCCSD of the isolated {symbol} atom not converged")
        energy = mycc.e_tot + mycc.ccsd_t()
    return float(energy) * Hartree


def options_problem(options: dict[str, Any]) -> str | None:
    """Why this labeller would refuse these options (an unknown ``method``), or None; checked when planning."""
    method = {**DEFAULTS, **options}["method"]
    return (
        None if method in METHODS else f"options.method: pyscf has no method {method!r} (known: {', '.join(METHODS)})"
    )


def make_calculator(options: dict[str, Any], threads: int = 1) -> PySCFCalculator:
    from pyscf import lib

    options = {**DEFAULTS, **options}
    if options["method"] not in METHODS:
        from mftl.data.labellers import LabellerError

        raise LabellerError(f"pyscf labeller: unknown method '{options['method']}' (known: {', '.join(METHODS)})")
    lib.num_threads(threads)
    return PySCFCalculator(**options)
