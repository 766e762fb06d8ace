"""Electrostatics: direct Coulomb sums for clusters, Ewald summation for periodic cells (notebook 08),
charge equilibration (notebook 09).

Point charges or Gaussian charges (widths σ as standard deviations); energies, potentials and
the Coulomb matrix M (E = ½ qᵀMq) for batches of structures, differentiable in positions, cell
and charges. Units eV, Å, e with K_E = e²/(4πε₀) = 14.399645478425667 eV·Å.
"""

from minnp.electrostatics.direct import K_E, direct_matrix, direct_potential, gaussian_self_energy
from minnp.electrostatics.ewald import (
    Coulomb,
    EwaldParameters,
    coulomb_energies,
    coulomb_energy,
    coulomb_matrices,
    coulomb_matrix,
    coulomb_potential,
    ewald_parameters,
    half_kvectors,
)
from minnp.electrostatics.qeq import (
    QEq,
    matrix_potential,
    padded_coulomb_matrices,
    qeq,
    qeq_charges,
    qeq_energies,
    solve_qeq,
)

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
    "direct_potential",
    "ewald_parameters",
    "gaussian_self_energy",
    "half_kvectors",
    "QEq", "matrix_potential", "padded_coulomb_matrices", "qeq", "qeq_charges", "qeq_energies", "solve_qeq",
]
