"""Coulomb energy of a finite cluster by the direct sum over all pairs, point or Gaussian charges.

Notebook 08 starts here (and notebook 09's charge equilibration uses the same matrix).

Units: eV, Å, elementary charge e, with one named constant

    K_E = e²/(4πε₀) = 14.399645478425667 eV·Å     (CODATA 2018, torch-pme's ``prefactors.eV_A``)

pymatgen uses 14.399645468667815 and ASE's default CODATA 2014 units 14.399645351950545; they
differ from K_E by 7e-10 and 9e-9 relative, which matters only when comparing to 1e-8.

Point charges interact through 1/r:

    E = ½ Σ_{i≠j} K_E q_i q_j / r_ij

Gaussian charges ρ_i(r) = q_i (2πσ_i²)^(-3/2) exp(-r²/(2σ_i²)), with σ_i the *standard deviation*
of the Gaussian, interact through the error-function kernel with the combined width
γ_ij = sqrt(σ_i² + σ_j²):

    E_ij = K_E q_i q_j erf(r_ij / (√2 γ_ij)) / r_ij

and each Gaussian also carries a *self energy*, its interaction with itself (the r -> 0 limit
of half the kernel with γ_ii = √2 σ_i):

    E_self,i = K_E q_i² / (2 σ_i √π)

Convention of minnp (the one of Ko et al.'s 4G-HDNNP paper): the electrostatic energy of
Gaussian charges INCLUDES the self energy. It sits on the diagonal of the Coulomb matrix,

    E = ½ qᵀ M q,   M_ij = K_E erf(r_ij/(√2γ_ij))/r_ij (i ≠ j),   M_ii = K_E / (σ_i √π),

which is the matrix A - diag(J) of charge equilibration (notebook 09). For point charges
M_ii = 0 (a point charge's self energy is infinite and left out). n2p2 leaves the Gaussian self
energy out: subtract :func:`gaussian_self_energy` to compare with it.

Clusters use this O(N²) sum; periodic structures use Ewald summation (:mod:`.ewald`).
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor

K_E = 14.399645478425667  # e²/(4πε₀) in eV·Å


def gaussian_self_energy(charges: Tensor, sigma: Tensor) -> Tensor:
    """Self energy of each Gaussian charge, K_E q_i² / (2 σ_i √π), shape (N,), eV."""
    return K_E * charges**2 / (2 * sigma * math.sqrt(math.pi))


def direct_matrix(positions: Tensor, sigma: Tensor | None = None) -> Tensor:
    """Coulomb matrix M (n, n) of one cluster, eV/e²; E = ½ qᵀMq (see the module docstring).

    ``positions`` (n, 3) in Å; ``sigma`` (n,) Gaussian widths in Å, or None for point charges.
    Differentiable in positions (and sigma). The diagonal is the Gaussian self energy term
    K_E/(σ_i√π), or 0 for point charges.
    """
    n = positions.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=positions.device)
    r_vec = positions[None, :, :] - positions[:, None, :]  # (n, n, 3)
    # +1 on the diagonal keeps sqrt away from 0 there, so its gradient stays finite
    r = torch.sqrt((r_vec**2).sum(-1) + eye)  # (n, n)
    if sigma is None:
        kernel = 1.0 / r
        diagonal = torch.zeros_like(r)
    else:
        gamma = torch.sqrt(sigma[:, None] ** 2 + sigma[None, :] ** 2)  # (n, n)
        kernel = torch.erf(r / (math.sqrt(2) * gamma)) / r
        diagonal = torch.diag_embed(1.0 / (sigma * math.sqrt(math.pi)))
    return K_E * torch.where(eye, diagonal, kernel)


def direct_potential(positions: Tensor, charges: Tensor, sigma: Tensor | None = None) -> Tensor:
    """Electrostatic potential φ_i = Σ_j M_ij q_j at each atom of one cluster, (n,), in V (eV/e).

    The energy is E = ½ Σ_i q_i φ_i (with the Gaussian self energy, when ``sigma`` is given).
    """
    return direct_matrix(positions, sigma) @ charges
