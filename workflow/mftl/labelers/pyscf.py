"""Molecular DFT / wavefunction labels with PySCF, wrapped as an ASE calculator.

Closed-shell molecules only (restricted Kohn-Sham or Hartree-Fock); an SCF that
does not converge raises :class:`ase.calculators.calculator.CalculationFailed`.
"""

from __future__ import annotations

from typing import Any

from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.units import Bohr, Hartree

#: elements with the standard Pople / Dunning bases used here
SUPPORTED_ELEMENTS = frozenset(["H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne",
                                "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar"])

DEFAULTS = {"xc": "pbe0", "basis": "6-31g*", "density_fit": True, "conv_tol": 1e-9, "max_cycle": 100}


class PySCFCalculator(Calculator):
    """Energy (eV) and analytic forces (eV/A) from a PySCF RKS calculation."""

    implemented_properties = ["energy", "forces"]
    default_parameters = dict(DEFAULTS)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from pyscf import dft, gto

        p = self.parameters
        mol = gto.M(
            atom=[(s, tuple(x)) for s, x in zip(self.atoms.get_chemical_symbols(), self.atoms.positions)],
            basis=p.basis,
            unit="Angstrom",
            charge=int(round(sum(self.atoms.get_initial_charges()))),
            verbose=0,
        )
        mf = dft.RKS(mol)
        mf.xc = p.xc
        mf.conv_tol = p.conv_tol
        mf.max_cycle = p.max_cycle
        if p.density_fit:
            mf = mf.density_fit()
        energy = mf.kernel()
        if not mf.converged:
            raise CalculationFailed(f"PySCF SCF not converged in {p.max_cycle} cycles")
        gradient = mf.nuc_grad_method().kernel()
        self.results["energy"] = float(energy) * Hartree
        self.results["forces"] = -gradient * Hartree / Bohr


def make_calculator(options: dict[str, Any], threads: int = 1) -> PySCFCalculator:
    from pyscf import lib

    lib.num_threads(threads)
    return PySCFCalculator(**{**DEFAULTS, **options})
