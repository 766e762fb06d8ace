"""Charge equilibration (Qeq): atomic charges from electronegativities, hardnesses and Coulomb's law.

Notebook 09 derives it; notebook 10's fourth-generation network (:mod:`minnp.models.fourth_generation`)
predicts the electronegativities with neural networks and solves this system in every step.
Rappé & Goddard, J. Phys. Chem. 95, 3358 (1991); Ko, Finkler, Goedecker & Behler, Nat. Commun.
12, 398 (2021).

The charge-equilibration energy of N Gaussian charges q_i (widths σ_i, standard deviations) is

    E_Qeq(q) = E_elec(q) + Σ_i (χ_i q_i + ½ J_i q_i²),      E_elec = ½ qᵀ M q

with χ_i the electronegativity (eV/e), J_i the hardness (eV/e², J_i ≥ 0) and M the Coulomb
matrix of :mod:`.coulomb` (clusters: M_ij = K_E erf(r_ij/(√2γ_ij))/r_ij, :mod:`.direct`;
periodic cells: :mod:`.ewald`). The Gaussian self energy sits on M's diagonal, M_ii = K_E/(σ_i√π) (minnp's
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

In floating point the system can still be (nearly) singular: with J = 0 and widths σ much
larger than the distances, every charge distribution costs the same energy (the denominator
above vanishes), and :func:`solve_qeq` then stops with an error that says so, never NaN or noise.

Gradients. ``torch.linalg.solve`` is differentiable, so ∂q/∂x (through M), ∂q/∂χ and ∂q/∂J
come from autograd; nobody writes dq/dR by hand. E_Qeq itself is stationary in q, so its
forces do not need ∂q/∂x at all (Hellmann–Feynman: detaching q gives the same forces); any
other energy that depends on q, like the short-range energy of a 4G network, does need it.

Batches: the Coulomb matrices come in minnp's one batched layout (B, n_max, n_max)
(:func:`~.coulomb.padded_coulomb_matrices`); the padded slots get A_kk = 1, no border and χ = 0,
hence q = 0, and every structure is solved by one batched ``torch.linalg.solve``: O(n³) per
structure, fine to a few thousand atoms.

Units eV, Å, e; K_E = 14.399645478425667 eV·Å (:mod:`.direct`).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

from minnp.batch import Batch, atoms_to_batch
from minnp.electrostatics.coulomb import matrix_potential, padded_coulomb_matrices, per_atom
from minnp.electrostatics.direct import padded_layout

Tensor = torch.Tensor

__all__ = ["RAPPE_GODDARD", "QEq", "matrix_potential", "padded_coulomb_matrices", "qeq", "qeq_charges",
           "qeq_energies", "solve_qeq"]

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


def solve_qeq(matrices: Tensor, chi: Tensor, hardness: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
    """Solve the bordered Qeq system of every structure at once: charges (N,) and μ (B,).

    ``matrices``: the padded Coulomb matrices M (B, n_max, n_max) in eV/e² of
    :func:`~.coulomb.padded_coulomb_matrices`; ``chi`` (N,) in eV/e; ``hardness`` (N,) in eV/e²,
    ≥ 0. The total charges come from ``batch.total_charge``. Differentiable in everything; μ is
    the equalised electronegativity (eV/e), the same for every atom of a structure.
    """
    _check_qeq_input(chi, hardness, batch)
    slot, real = padded_layout(batch)
    n_structures, n_max = real.shape
    dtype = matrices.dtype
    # A = M + diag(J); a padded slot gets A_kk = 1 and no border, so it decouples with q = 0
    diagonal = torch.ones(real.shape, dtype=dtype, device=matrices.device)
    diagonal = diagonal.index_put((batch.structure, slot), hardness.to(dtype))  # (B, n_max)
    A = matrices + torch.diag_embed(diagonal)  # (B, n_max, n_max)
    # the border: a row and a column of ones (on real atoms only) and a 0 in the corner
    border = real.to(dtype)  # (B, n_max)
    top = torch.cat([A, border[:, :, None]], dim=2)  # (B, n_max, n_max + 1)
    bottom = torch.cat([border, border.new_zeros(n_structures, 1)], dim=1)  # (B, n_max + 1)
    system = torch.cat([top, bottom[:, None, :]], dim=1)  # (B, n_max + 1, n_max + 1)
    rhs = torch.zeros(n_structures, n_max + 1, dtype=dtype, device=matrices.device)
    rhs = rhs.index_put((batch.structure, slot), -chi.to(dtype))
    rhs[:, n_max] = batch.total_charge.to(dtype)
    solution, info = torch.linalg.solve_ex(system, rhs)  # (B, n_max + 1): [q; λ]
    _check_solution(system, solution, info)
    return solution[batch.structure, slot], -solution[:, n_max]


# the bordered system counts as singular when its LU pivots fail, or when its condition number
# (estimated in the 1-norm from the solve itself) says fewer than ~4 digits of q are left
SINGULAR_CONDITION = 1e12


def _check_qeq_input(chi: Tensor, hardness: Tensor, batch: Batch) -> None:
    """Shapes and finite values of χ, J and the total charges, in the words a learner needs."""
    n = len(batch.structure)
    if chi.shape != (n,) or hardness.shape != (n,):
        raise ValueError(f"chi and hardness need one value per atom, shape ({n},), "
                         f"got {tuple(chi.shape)} and {tuple(hardness.shape)}")
    for name, values in (("chi (electronegativity)", chi), ("hardness", hardness)):
        bad = torch.nonzero(~torch.isfinite(values.detach())).flatten()
        if len(bad):
            raise ValueError(f"{name} is NaN or inf at atoms {bad[:10].tolist()}; give finite numbers "
                             "(in a model: the network's outputs diverged, try a smaller learning rate)")
    bad = torch.nonzero(~torch.isfinite(batch.total_charge)).flatten()
    if len(bad):
        raise ValueError(f"the total charge of structure(s) {bad[:10].tolist()} is "
                         f"{batch.total_charge[bad[0]].item()}; set atoms.info['charge'] to a number (e)")
    if (hardness.detach() < 0).any():
        raise ValueError("hardness must be ≥ 0 (a negative J can make Qeq unbounded: charges run away); "
                         "in a model keep it positive with softplus or a square")


def _check_solution(system: Tensor, solution: Tensor, info: Tensor) -> None:
    """One clear error for an exactly or nearly singular Qeq system (no NaN, no noise)."""
    with torch.no_grad():
        norm = torch.linalg.matrix_norm(system, ord=1)  # (B,)
        # ‖A⁻¹‖₁ ≥ ‖x‖₁/‖b‖₁ for any solve: a cheap lower bound of the condition number
        rhs = torch.linalg.vector_norm(system @ solution[..., None], ord=1, dim=(1, 2))
        rhs = rhs.clamp_min(torch.finfo(rhs.dtype).tiny)
        inverse = torch.linalg.vector_norm(solution, ord=1, dim=1) / rhs
        condition = norm * inverse  # (B,)
        bad = (info != 0) | ~torch.isfinite(solution).all(dim=1) | (condition > SINGULAR_CONDITION)
    if bad.any():
        b = int(torch.nonzero(bad)[0])
        raise ValueError(
            f"the charge-equilibration system of structure {b} is singular (condition number "
            f"{float(condition[b]):.1e}): the charges are not determined. This happens when the hardness J "
            "is 0 (or tiny) and the Gaussian widths sigma are large compared with the distances between the "
            "atoms, so that every way of sharing the charge costs the same energy, or when two atoms sit "
            "at the same place; give every element a hardness J > 0 (e.g. Rappé-Goddard's) or smaller sigma")


def qeq_charges(batch: Batch, chi: Tensor, hardness: Tensor, sigma: Tensor, accuracy: float = 1e-8,
                eta: float | None = None) -> Tensor:
    """Qeq charges (N,) in e for every structure of a batch (clusters and periodic cells).

    ``chi`` (N,) eV/e, ``hardness`` (N,) eV/e², ``sigma`` (N,) Gaussian widths in Å; each
    structure's total charge is ``batch.total_charge``. Periodic structures use the Ewald
    matrix (``accuracy``, ``eta`` as in :func:`~.coulomb.coulomb_matrices`). Differentiable in
    positions, cell, χ and J: forces through the solve come from autograd.
    """
    return solve_qeq(_matrices(batch, sigma, accuracy, eta), chi, hardness, batch)[0]


def qeq_energies(batch: Batch, charges: Tensor, chi: Tensor, hardness: Tensor, sigma: Tensor,
                 accuracy: float = 1e-8, matrices: Tensor | None = None) -> Tensor:
    """Per-atom charge-equilibration energies (N,) in eV, E_i = ½ q_i (Mq)_i + χ_i q_i + ½ J_i q_i².

    Summed over a structure this is E_Qeq(q); at the Qeq charges it is the Qeq model's energy.
    ``matrices``: the padded Coulomb matrices when already computed (else from ``sigma``).
    """
    if matrices is None:
        matrices = _matrices(batch, sigma, accuracy)
    phi = matrix_potential(matrices, charges, batch)  # (N,) V
    return 0.5 * charges * phi + chi * charges + 0.5 * hardness * charges**2


def _matrices(batch: Batch, sigma: Tensor, accuracy: float, eta: float | None = None) -> Tensor:
    """The padded Coulomb matrices of Gaussian charges (B, n_max, n_max), eV/e²."""
    if sigma is None:
        raise ValueError("charge equilibration needs Gaussian charges: give sigma, one width per atom (Å)")
    return padded_coulomb_matrices(batch, sigma, accuracy, eta)


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
        matrices = _matrices(batch, sigma, self.accuracy)  # (B, n_max, n_max), once for solve and energy
        q = solve_qeq(matrices, chi, hardness, batch)[0]
        return qeq_energies(batch, q, chi, hardness, sigma, matrices=matrices)


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
