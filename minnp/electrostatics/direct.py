"""The Coulomb kernel of point and Gaussian charges, and the direct sum for clusters.

Notebook 08 starts here (and notebook 09's charge equilibration uses the same matrix). This
module is the *kernel* (what two charges at distance r feel); :mod:`.ewald` is a *method* (how
to sum it over a periodic lattice), as torch-pme splits ``potentials/`` from ``calculators/``.

Units: eV, Å, elementary charge e, with one named constant

    K_E = e²/(4πε₀) = 14.399645478425667 eV·Å     (CODATA 2018, torch-pme's ``prefactors.eV_A``)

pymatgen uses 14.399645468667815 and ASE's default CODATA 2014 units 14.399645351950545; they
differ from K_E by 7e-10 and 9e-9 relative, which matters only when comparing to 1e-8.

Point charges interact through 1/r:

    E = ½ Σ_{i≠j} K_E q_i q_j / r_ij

Gaussian charges ρ_i(r) = q_i (2πσ_i²)^(-3/2) exp(-r²/(2σ_i²)), with σ_i the *standard deviation*
of the Gaussian, interact through the error-function kernel with the combined width
γ_ij = sqrt(σ_i² + σ_j²):

    E_ij = K_E q_i q_j erf(r_ij / (√2 γ_ij)) / r_ij                       (:func:`gaussian_kernel`)

whose r -> 0 limit is √(2/π)/γ (:func:`gaussian_kernel_at_zero`). Each Gaussian also carries a
*self energy*, its interaction with itself (half that limit at γ_ii = √2 σ_i):

    E_self,i = K_E q_i² / (2 σ_i √π)                                       (:func:`gaussian_self_energy`)

Ewald's real-space sum uses the rest of 1/r, erfc(r/(√2η))/r = 1/r - erf(r/(√2η))/r
(:func:`screened_kernel`).

Convention of minnp (the one of Ko et al.'s 4G-HDNNP paper): the electrostatic energy of
Gaussian charges INCLUDES the self energy. It sits on the diagonal of the Coulomb matrix,

    E = ½ qᵀ M q,   M_ij = K_E erf(r_ij/(√2γ_ij))/r_ij (i ≠ j),   M_ii = K_E / (σ_i √π),

which is the matrix A - diag(J) of charge equilibration (notebook 09). For point charges
M_ii = 0 (a point charge's self energy is infinite and left out). n2p2 leaves the Gaussian self
energy out: subtract :func:`gaussian_self_energy` to compare with it.

The batched layout. Every Coulomb matrix of minnp, for clusters and for periodic cells, is one
tensor (B, n_max, n_max): structure b's matrix in the top-left (n_b, n_b) block, zeros around
it (:func:`padded_layout` says which slots hold atoms). Clusters use the O(N²) sum of this
module (:func:`direct_matrices`); periodic structures use Ewald summation (:mod:`.ewald`).
"""

from __future__ import annotations

import math

import torch

from minnp.batch import Batch

Tensor = torch.Tensor

K_E = 14.399645478425667  # e²/(4πε₀) in eV·Å


# ---------------------------------------------------------------------------------------------
# The kernel: what two charges at distance r feel, in 1/Å (times K_E q_i q_j: eV)
# ---------------------------------------------------------------------------------------------


def gaussian_kernel(r: Tensor, gamma: Tensor | float) -> Tensor:
    """erf(r/(√2γ))/r: two Gaussian charges of combined width γ = sqrt(σ_i² + σ_j²) at distance r."""
    return torch.erf(r / (math.sqrt(2) * gamma)) / r


def gaussian_kernel_at_zero(gamma: Tensor | float) -> Tensor | float:
    """The r -> 0 limit of :func:`gaussian_kernel`, √(2/π)/γ."""
    return math.sqrt(2 / math.pi) / gamma


def screened_kernel(r: Tensor, width: Tensor | float) -> Tensor:
    """erfc(r/(√2w))/r = 1/r - gaussian_kernel(r, w): the part of 1/r outside a Gaussian of width w."""
    return torch.erfc(r / (math.sqrt(2) * width)) / r


def gaussian_self_energy(charges: Tensor, sigma: Tensor) -> Tensor:
    """Self energy of each Gaussian charge, K_E q_i² / (2 σ_i √π), shape (N,), eV."""
    return K_E * charges**2 / (2 * sigma * math.sqrt(math.pi))


# ---------------------------------------------------------------------------------------------
# The one batched layout: (B, n_max) slots, (B, n_max, n_max) matrices
# ---------------------------------------------------------------------------------------------


def padded_layout(batch: Batch) -> tuple[Tensor, Tensor]:
    """Each atom's slot in its structure, (N,), and which slots of (B, n_max) hold real atoms."""
    slot = torch.arange(len(batch.structure), device=batch.device) - batch.ptr[batch.structure]  # (N,)
    real = torch.zeros(batch.n_structures, int(batch.n_atoms.max()), dtype=torch.bool, device=batch.device)
    real[batch.structure, slot] = True
    return slot, real


def to_padded(values: Tensor, batch: Batch, fill: float = 0.0) -> Tensor:
    """Per-atom values (N, ...) -> (B, n_max, ...), ``fill`` in the empty slots."""
    slot, real = padded_layout(batch)
    out = values.new_full(tuple(real.shape) + tuple(values.shape[1:]), fill)
    return out.index_put((batch.structure, slot), values)


# ---------------------------------------------------------------------------------------------
# The direct sum for clusters
# ---------------------------------------------------------------------------------------------


def direct_matrices(positions: Tensor, real: Tensor, sigma: Tensor | None = None,
                    structures: Tensor | None = None) -> Tensor:
    """Coulomb matrices M (B, n, n) of padded clusters, eV/e²; E_b = ½ q_bᵀ M_b q_b.

    ``positions`` (B, n, 3) in Å, ``real`` (B, n) True where a slot holds an atom, ``sigma``
    (B, n) Gaussian widths in Å (any positive value in empty slots) or None for point charges.
    The diagonal is the Gaussian self term K_E/(σ_i√π), or 0 for point charges; empty slots get
    zero rows and columns. Differentiable in positions and sigma. ``structures`` (B,): the number
    of each cluster in its batch, for error messages (default 0, 1, 2, ...).
    """
    n = positions.shape[1]
    eye = torch.eye(n, dtype=torch.bool, device=positions.device)
    pair = real[:, :, None] & real[:, None, :]  # (B, n, n) both slots hold atoms
    r_vec = positions[:, None, :, :] - positions[:, :, None, :]  # (B, n, n, 3)
    # +1 where r is no distance (diagonal, empty slots) keeps sqrt and its gradient finite there
    r = torch.sqrt((r_vec**2).sum(-1) + (eye | ~pair))  # (B, n, n)
    off_diagonal = pair & ~eye
    check_distinct(r, off_diagonal, structures)
    if sigma is None:
        kernel, diagonal = 1.0 / r, torch.zeros_like(r)
    else:
        gamma = torch.sqrt(sigma[:, :, None] ** 2 + sigma[:, None, :] ** 2)  # (B, n, n); γ_ii = √2 σ_i
        kernel, diagonal = gaussian_kernel(r, gamma), gaussian_kernel_at_zero(gamma)
    return K_E * torch.where(off_diagonal, kernel, torch.where(pair, diagonal, 0.0))


def direct_matrix(positions: Tensor, sigma: Tensor | None = None) -> Tensor:
    """Coulomb matrix M (n, n) of one cluster, eV/e²: :func:`direct_matrices` of a batch of one.

    ``positions`` (n, 3) in Å; ``sigma`` (n,) Gaussian widths in Å, or None for point charges.
    """
    real = torch.ones(1, positions.shape[0], dtype=torch.bool, device=positions.device)
    return direct_matrices(positions[None], real, None if sigma is None else sigma[None])[0]


def check_distinct(r: Tensor, pairs: Tensor, structures: Tensor | None = None) -> None:
    """A clear error when two atoms of a structure sit at the same place (1/0: no Coulomb energy).

    ``r`` distances (B, n, n), ``pairs`` (B, n, n) the entries that are real atom pairs,
    ``structures`` (B,) the structure numbers to name (default 0, 1, 2, ...).
    """
    close = pairs & (r.detach() < 1e-8)
    if close.any():
        b, i, j = torch.nonzero(close)[0].tolist()
        distance = float(r[b, i, j])
        number = b if structures is None else int(structures[b])
        raise ValueError(f"atoms {i} and {j} of structure {number} are at the same position (r = {distance:.1g} Å): "
                         "their Coulomb energy is undefined; remove the duplicate atom")
