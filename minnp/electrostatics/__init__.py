"""Electrostatics: the Coulomb kernel and the direct sum for clusters (:mod:`.direct`), Ewald
summation for periodic cells (:mod:`.ewald`), the Coulomb interface over both (:mod:`.coulomb`;
notebook 08) and charge equilibration (:mod:`.qeq`; notebook 09).

Point charges or Gaussian charges (widths σ as standard deviations); energies, potentials and
the Coulomb matrix M (E = ½ qᵀMq) for batches of structures, differentiable in positions, cell
and charges. Units eV, Å, e with K_E = e²/(4πε₀) = 14.399645478425667 eV·Å.
"""

from minnp.electrostatics.coulomb import (
    Coulomb,
    coulomb_energies,
    coulomb_energy,
    coulomb_matrices,
    coulomb_matrix,
    coulomb_potential,
    matrix_potential,
    padded_coulomb_matrices,
)
from minnp.electrostatics.direct import K_E, direct_matrix, gaussian_self_energy
from minnp.electrostatics.ewald import EwaldParameters, ewald_parameters, half_kvectors
from minnp.electrostatics.qeq import QEq, qeq, qeq_charges, qeq_energies, solve_qeq

__all__ = [
    "K_E",
    "Coulomb",
    "EwaldParameters",
    "coulomb_energies",
    "coulomb_energy",
    "coulomb_matrices",
    "coulomb_matrix",
    "coulomb_potential",
    "direct_matrix",
    "ewald_parameters",
    "gaussian_self_energy",
    "half_kvectors",
    "QEq", "matrix_potential", "padded_coulomb_matrices", "qeq", "qeq_charges", "qeq_energies", "solve_qeq",
]
