"""Charge equilibration (Qeq): atomic charges from electronegativities, hardnesses and Coulomb's law.

Notebook 09 derives it; notebook 10's fourth-generation network (:mod:`minnp.models.fourth_generation`)
predicts the electronegativities with neural networks and solves this system in every step.
Rappé & Goddard, J. Phys. Chem. 95, 3358 (1991); Ko, Finkler, Goedecker & Behler, Nat. Commun.
12, 398 (2021).

The charge-equilibration energy of N Gaussian charges q_i (widths σ_i, standard deviations) is

    E_Qeq(q) = E_elec(q) + Σ_i (χ_i q_i + ½ J_i q_i²),      E_elec = ½ qᵀ M q

with χ_i the electronegativity (eV/e), J_i the hardness (eV/e², J_i ≥ 0) and M the Coulomb
matrix of :mod:`.direct` (clusters: M_ij = K_E erf(r_ij/(√2γ_ij))/r_ij) or :mod:`.ewald`
(periodic cells). The Gaussian self energy sits on M's diagonal, M_ii = K_E/(σ_i√π) (minnp's
convention, Ko et al.'s), so the whole quadratic form is A = M + diag(J):

    E_Qeq = ½ qᵀ A q + χᵀq,      A_ii = J_i + K_E/(σ_i√π),      A_ij = M_ij.

The charges minimise E_Qeq under the constraint Σ_i q_i = Q_tot (the structure's total charge).
With a Lagrange multiplier λ, stationarity gives one linear system per structure, "bordered" by
the constraint:

    [ A   1 ] [ q ]   [ -χ    ]
    [ 1ᵀ  0 ] [ λ ] = [ Q_tot ]

Its first rows say that every atom ends with the same electronegativity, the chemical potential
μ = ∂E_Qeq/∂q_i = χ_i + (A q)_i = -λ: charge flows until no atom wants more. A is symmetric and
positive definite (a Coulomb energy of Gaussian densities is positive, and J ≥ 0), so the
system has one solution. Two atoms have it in closed form,

    q_1 = [Q_tot (A_22 - A_12) + χ_2 - χ_1] / (A_11 + A_22 - 2 A_12),   q_2 = Q_tot - q_1.

Gradients. ``torch.linalg.solve`` is differentiable, so ∂q/∂x (through M), ∂q/∂χ and ∂q/∂J
come from autograd; nobody writes dq/dR by hand. E_Qeq itself is stationary in q, so its
forces do not need ∂q/∂x at all (Hellmann–Feynman: detaching q gives the same forces); any
other energy that depends on q, like the short-range energy of a 4G network, does need it.

Batches: structures of different sizes are padded to the largest one (the padded atoms get
A_ii = 1, no border and χ = 0, hence q = 0) and solved together by one batched
``torch.linalg.solve``: O(n³) per structure, fine to a few thousand atoms. The Coulomb matrices
of clusters are computed for the whole batch at once; periodic cells take the Ewald matrix.

Units eV, Å, e; K_E = 14.399645478425667 eV·Å (:mod:`.direct`).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

from minnp.batch import Batch, atoms_to_batch
from minnp.electrostatics.direct import K_E
from minnp.electrostatics.ewald import check_charges_and_sigma, coulomb_matrices, per_atom, periodic_structures

Tensor = torch.Tensor

# Rappé & Goddard's QEq parameters (J. Phys. Chem. 95, 3358 (1991), Table I): electronegativity
# χ = (IP + EA)/2 (eV), idempotential J = IP - EA (eV) and covalent radius R (Å). Their J is the
# WHOLE diagonal of A (the self-Coulomb energy of the atom's charge included) and goes with their
# Slater-orbital shielding; notebook 09 shows what they give with Gaussian charges.
RAPPE_GODDARD = {
    "H": (4.528, 13.8904, 0.371),
    "Li": (3.006, 4.772, 1.557),
    "C": (5.343, 10.126, 0.759),
    "N": (6.899, 11.760, 0.715),
    "O": (8.741, 13.364, 0.669),
    "F": (10.874, 14.948, 0.706),
    "Na": (2.843, 4.592, 1.868),
    "Si": (4.168, 6.974, 1.176),
    "P": (5.463, 8.000, 1.102),
    "S": (6.928, 8.972, 1.047),
    "Cl": (8.564, 9.892, 0.994),
    "K": (2.421, 3.840, 2.171),
    "Br": (7.790, 8.850, 1.141),
    "I": (6.822, 7.524, 1.333),
}


# ---------------------------------------------------------------------------------------------
# The tensor-level interface (models use this)
# ---------------------------------------------------------------------------------------------


def _layout(batch: Batch) -> tuple[Tensor, Tensor]:
    """Each atom's slot in its structure, (N,), and which slots of (B, n_max) hold real atoms."""
    slot = torch.arange(len(batch.batch), device=batch.device) - batch.ptr[batch.batch]  # (N,)
    real = torch.zeros(batch.n_structures, int(batch.n_atoms.max()), dtype=torch.bool, device=batch.device)
    real[batch.batch, slot] = True
    return slot, real


def padded_coulomb_matrices(batch: Batch, sigma: Tensor, accuracy: float = 1e-8,
                            eta: float | None = None) -> Tensor:
    """The Coulomb matrix M of every structure, zero-padded to the largest: (B, n_max, n_max), eV/e².

    Gaussian charges of widths ``sigma`` (N,), Å. Clusters (pbc all False) are computed all at
    once, M_ij = K_E erf(r_ij/(√2γ_ij))/r_ij and M_ii = K_E/(σ_i√π) (the formula of
    :func:`~.direct.direct_matrix` with a batch dimension); periodic cells take the Ewald matrix
    of :func:`~.ewald.coulomb_matrices`. Differentiable in positions, cell and sigma.
    """
    if sigma is None:
        raise ValueError("charge equilibration needs Gaussian charges: give sigma, one width per atom (Å)")
    _, sigma = check_charges_and_sigma(batch, None, sigma)  # shape, NaN, sigma > 0
    slot, real = _layout(batch)
    if periodic_structures(batch).any():
        n_max = real.shape[1]
        matrices = coulomb_matrices(batch, sigma, accuracy, eta)
        return torch.stack([torch.nn.functional.pad(m, (0, n_max - len(m), 0, n_max - len(m))) for m in matrices])
    x = batch.positions.new_zeros(*real.shape, 3).index_put((batch.batch, slot), batch.positions)  # (B, n, 3)
    s = batch.positions.new_ones(real.shape).index_put((batch.batch, slot), sigma)  # (B, n)
    pair = real[:, :, None] & real[:, None, :]  # (B, n, n) both atoms real
    eye = torch.eye(real.shape[1], dtype=torch.bool, device=batch.device)
    # 1 added where r would be 0 (diagonal, padding) keeps sqrt and its gradient finite there
    r = torch.sqrt(((x[:, None, :, :] - x[:, :, None, :]) ** 2).sum(-1) + (eye | ~pair))  # (B, n, n)
    gamma = torch.sqrt(s[:, :, None] ** 2 + s[:, None, :] ** 2)  # (B, n, n)
    kernel = torch.erf(r / (math.sqrt(2) * gamma)) / r
    self_term = torch.diag_embed(1.0 / (s * math.sqrt(math.pi)))  # (B, n, n)
    return K_E * torch.where(pair, torch.where(eye, self_term, kernel), 0.0)


def solve_qeq(matrices: Tensor, chi: Tensor, hardness: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
    """Solve the bordered Qeq system of every structure at once: charges (N,) and μ (B,).

    ``matrices``: the padded Coulomb matrices M (B, n_max, n_max) in eV/e² of
    :func:`padded_coulomb_matrices`; ``chi`` (N,) in eV/e; ``hardness`` (N,) in eV/e², ≥ 0.
    The total charges come from ``batch.total_charge``. Differentiable in everything; μ is the
    equalised electronegativity (eV/e), the same for every atom of a structure.
    """
    n = len(batch.batch)
    if chi.shape != (n,) or hardness.shape != (n,):
        raise ValueError(f"chi and hardness need one value per atom, shape ({n},), "
                         f"got {tuple(chi.shape)} and {tuple(hardness.shape)}")
    if (hardness.detach() < 0).any():
        raise ValueError("hardness must be ≥ 0 (a negative J can make Qeq unbounded: charges run away); "
                         "in a model keep it positive with softplus or a square")
    slot, real = _layout(batch)
    n_structures, n_max = real.shape
    dtype = matrices.dtype
    # A = M + diag(J); a padded slot gets A_kk = 1 and no border, so it decouples with q = 0
    diagonal = torch.ones(real.shape, dtype=dtype, device=matrices.device)
    diagonal = diagonal.index_put((batch.batch, slot), hardness.to(dtype))  # (B, n_max)
    A = matrices + torch.diag_embed(diagonal)  # (B, n_max, n_max)
    # the border: a row and a column of ones (on real atoms only) and a 0 in the corner
    border = real.to(dtype)  # (B, n_max)
    top = torch.cat([A, border[:, :, None]], dim=2)  # (B, n_max, n_max + 1)
    bottom = torch.cat([border, border.new_zeros(n_structures, 1)], dim=1)  # (B, n_max + 1)
    system = torch.cat([top, bottom[:, None, :]], dim=1)  # (B, n_max + 1, n_max + 1)
    rhs = torch.zeros(n_structures, n_max + 1, dtype=dtype, device=matrices.device)
    rhs = rhs.index_put((batch.batch, slot), -chi.to(dtype))
    rhs[:, n_max] = batch.total_charge.to(dtype)
    solution = torch.linalg.solve(system, rhs)  # (B, n_max + 1): [q; λ]
    return solution[batch.batch, slot], -solution[:, n_max]


def matrix_potential(matrices: Tensor, charges: Tensor, batch: Batch) -> Tensor:
    """The electrostatic potential φ = M q at every atom, (N,) in V, from the padded matrices."""
    slot, real = _layout(batch)
    q = charges.new_zeros(real.shape).index_put((batch.batch, slot), charges)  # (B, n_max)
    phi = torch.einsum("bij,bj->bi", matrices, q)  # (B, n_max)
    return phi[batch.batch, slot]


def qeq_charges(batch: Batch, chi: Tensor, hardness: Tensor, sigma: Tensor, accuracy: float = 1e-8,
                eta: float | None = None) -> Tensor:
    """Qeq charges (N,) in e for every structure of a batch (clusters and periodic cells).

    ``chi`` (N,) eV/e, ``hardness`` (N,) eV/e², ``sigma`` (N,) Gaussian widths in Å; each
    structure's total charge is ``batch.total_charge``. Periodic structures use the Ewald
    matrix (``accuracy``, ``eta`` as in :func:`~.ewald.coulomb_matrices`). Differentiable in
    positions, cell, χ and J: forces through the solve come from autograd.
    """
    matrices = padded_coulomb_matrices(batch, sigma, accuracy, eta)
    return solve_qeq(matrices, chi, hardness, batch)[0]


def qeq_energies(batch: Batch, charges: Tensor, chi: Tensor, hardness: Tensor, sigma: Tensor,
                 accuracy: float = 1e-8) -> Tensor:
    """Per-atom charge-equilibration energies (N,) in eV, E_i = ½ q_i (Mq)_i + χ_i q_i + ½ J_i q_i².

    Summed over a structure this is E_Qeq(q); at the Qeq charges it is the Qeq model's energy.
    """
    phi = matrix_potential(padded_coulomb_matrices(batch, sigma, accuracy), charges, batch)  # (N,) V
    return 0.5 * charges * phi + chi * charges + 0.5 * hardness * charges**2


class QEq(torch.nn.Module):
    """Charge equilibration with fixed parameters per element, as an energy module.

    ``forward(batch)`` returns the per-atom Qeq energies (N,) at the equilibrated charges, so
    :class:`minnp.Calculator` gives Qeq energies and forces; :meth:`charges` gives the charges.

    >>> from ase.build import molecule
    >>> model = QEq(chi={"O": 8.741, "H": 4.528}, hardness={"O": 0.0, "H": 0.0},
    ...             sigma={"O": 1.0, "H": 0.6})
    >>> q = model.charges(atoms_to_batch(molecule("H2O")))
    >>> round(float(q.sum()), 12) == 0.0
    True
    """

    def __init__(self, chi: Mapping[str, float], hardness: Mapping[str, float], sigma: Mapping[str, float],
                 accuracy: float = 1e-8):
        super().__init__()
        self.chi, self.hardness, self.sigma = dict(chi), dict(hardness), dict(sigma)
        self.accuracy = accuracy

    def per_atom(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """χ, J and σ of every atom of the batch, three (N,) tensors."""
        return (per_atom(batch, self.chi, "chi"), per_atom(batch, self.hardness, "hardness"),
                per_atom(batch, self.sigma, "sigma"))

    def charges(self, batch: Batch) -> Tensor:
        """The equilibrated charges (N,) in e."""
        chi, hardness, sigma = self.per_atom(batch)
        return qeq_charges(batch, chi, hardness, sigma, self.accuracy)

    def forward(self, batch: Batch) -> Tensor:
        chi, hardness, sigma = self.per_atom(batch)
        matrices = padded_coulomb_matrices(batch, sigma, self.accuracy)
        q = solve_qeq(matrices, chi, hardness, batch)[0]
        phi = matrix_potential(matrices, q, batch)  # (N,)
        return 0.5 * q * phi + chi * q + 0.5 * hardness * q**2


# ---------------------------------------------------------------------------------------------
# The ASE-level interface (learners and tests)
# ---------------------------------------------------------------------------------------------


def qeq(atoms: Atoms, chi, hardness, sigma, total_charge: float | None = None, accuracy: float = 1e-8) -> np.ndarray:
    """Qeq charges of one structure, (n,) in e: the direct sum for a cluster, Ewald if periodic.

    ``chi`` (eV/e), ``hardness`` (eV/e², ≥ 0) and ``sigma`` (Å): one number, one per atom, or
    a dict per element. ``total_charge`` defaults to ``atoms.info["charge"]`` (0 if absent).

    >>> from ase import Atoms
    >>> q = qeq(Atoms("NaCl", positions=[[0, 0, 0], [2.4, 0, 0]]),
    ...         chi={"Na": 2.843, "Cl": 8.564}, hardness={"Na": 4.592, "Cl": 9.892}, sigma=1.0)
    >>> bool(q[0] > 0 > q[1] and abs(q.sum()) < 1e-12)
    True
    """
    atoms = atoms.copy()
    if total_charge is not None:
        atoms.info["charge"] = float(total_charge)
    batch = atoms_to_batch(atoms)
    values = {}
    for name, value in (("chi", chi), ("hardness", hardness), ("sigma", sigma)):
        if value is None:
            raise ValueError(f"{name} is required (one number, one per atom, or a dict per element)")
        t = per_atom(batch, value, name)
        if t.shape != (len(atoms),):
            raise ValueError(f"{name} has {t.numel()} values for {len(atoms)} atoms; give one per atom or a dict "
                             f"per element ({sorted(set(chemical_symbols[z] for z in atoms.numbers))})")
        values[name] = t
    with torch.no_grad():
        q = qeq_charges(batch, values["chi"], values["hardness"], values["sigma"], accuracy)
    return q.numpy()
