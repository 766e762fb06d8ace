"""The Coulomb interface of minnp: energies, potentials and matrices of point or Gaussian charges
for any batch, clusters by the direct sum (:mod:`.direct`) and periodic cells by Ewald summation
(:mod:`.ewald`).

Notebook 08 uses it; notebook 09 (charge equilibration, :mod:`.qeq`) and notebook 10 (the
4G-HDNNP, :mod:`minnp.models.fourth_generation`) use the matrix M.

All terms are quadratic in the charges q (e), so every structure has a Coulomb matrix M (eV/e²):

    E = ½ qᵀ M q,      φ = M q      (the electrostatic potential at each atom, V),

with the Gaussian self energy K_E/(σ_i√π) on M's diagonal (Ko et al.'s convention, see
:mod:`.direct`). A structure with pbc all False is a cluster (the direct sum); pbc all True is
a periodic cell (Ewald, the tin-foil energy with a neutralising background when Σq ≠ 0); mixed
pbc is refused. Matrices come in one batched layout, (B, n_max, n_max), structure b in the top-left
(n_b, n_b) block (:func:`padded_coulomb_matrices`); :func:`coulomb_matrices` lists those blocks.
Energies and potentials never form M (:func:`coulomb_energies`, :func:`coulomb_potential`).

Everything is differentiable in positions, cell, charges and widths: forces and stress come from
autograd (:mod:`minnp.calculator`), and charges from a network or from Qeq carry gradients.
Units eV, Å, e; K_E = 14.399645478425667 eV·Å.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

from minnp.batch import Batch, atomic_numbers, atoms_to_batch, sum_per_structure
from minnp.electrostatics.direct import direct_matrices, padded_layout, to_padded
from minnp.electrostatics.ewald import ewald_matrices, ewald_parameters, ewald_potential, periodic_structures

Tensor = torch.Tensor


# ---------------------------------------------------------------------------------------------
# Matrices in the one batched layout
# ---------------------------------------------------------------------------------------------


def padded_coulomb_matrices(batch: Batch, sigma: Tensor | None = None, accuracy: float = 1e-8,
                            eta: float | None = None) -> Tensor:
    """The Coulomb matrix M of every structure, zero-padded to the largest: (B, n_max, n_max), eV/e².

    ``sigma`` (N,) Gaussian widths in Å, or None for point charges. Clusters take the direct sum
    (all at once), periodic cells the Ewald matrix (``accuracy``, ``eta`` as in
    :func:`~.ewald.ewald_parameters`). Differentiable in positions, cell and sigma, so forces
    flow through a linear solve with M (charge equilibration).
    """
    _, sigma = check_charges_and_sigma(batch, None, sigma)
    periodic = periodic_structures(batch)
    if not periodic.any():
        return _cluster_matrices(batch, sigma, ~periodic)
    matrices = ewald_matrices(batch, sigma, ewald_parameters(batch, accuracy, sigma, eta))
    if periodic.all():
        return matrices
    clusters = ~periodic
    direct = _cluster_matrices(batch, sigma, clusters)  # (C, n_c, n_c)
    pad = matrices.shape[1] - direct.shape[1]
    direct = torch.nn.functional.pad(direct, (0, pad, 0, pad))  # (C, n_max, n_max)
    return matrices.index_put((torch.nonzero(clusters)[:, 0],), direct)


def coulomb_matrices(batch: Batch, sigma: Tensor | None = None, accuracy: float = 1e-8,
                     eta: float | None = None) -> list[Tensor]:
    """The Coulomb matrix of every structure as a list of (n_s, n_s) tensors, eV/e².

    The blocks of :func:`padded_coulomb_matrices`: E_s = ½ q_sᵀ M_s q_s, with q_s the charges of
    structure s in batch order.
    """
    matrices = padded_coulomb_matrices(batch, sigma, accuracy, eta)
    return [m[:n, :n] for m, n in zip(matrices, batch.n_atoms.tolist())]


def matrix_potential(matrices: Tensor, charges: Tensor, batch: Batch) -> Tensor:
    """The electrostatic potential φ = M q at every atom, (N,) in V, from the padded matrices."""
    slot, _ = padded_layout(batch)
    q = to_padded(charges, batch)  # (B, n_max)
    phi = torch.einsum("bij,bj->bi", matrices, q)  # (B, n_max)
    return phi[batch.structure, slot]


def _cluster_matrices(batch: Batch, sigma: Tensor | None, clusters: Tensor) -> Tensor:
    """Direct-sum matrices (C, n_c, n_c) of the ``clusters`` (B,) of the batch, padded to the largest."""
    _, real = padded_layout(batch)
    n_c = int(batch.n_atoms[clusters].max())  # a large periodic cell does not widen the clusters' padding
    x = to_padded(batch.positions, batch)[clusters, :n_c]  # (C, n_c, 3)
    s = None if sigma is None else to_padded(sigma, batch, fill=1.0)[clusters, :n_c]  # (C, n_c)
    return direct_matrices(x, real[clusters, :n_c], s, structures=torch.nonzero(clusters)[:, 0])


def _cluster_potential(batch: Batch, charges: Tensor, sigma: Tensor | None, clusters: Tensor) -> Tensor:
    """φ = M q (N,) at the atoms of the ``clusters`` (B,) by the direct sum, 0 at the others."""
    slot, _ = padded_layout(batch)
    matrices = _cluster_matrices(batch, sigma, clusters)  # (C, n_c, n_c)
    q = to_padded(charges, batch)[clusters, : matrices.shape[1]]  # (C, n_c)
    phi = torch.einsum("bij,bj->bi", matrices, q)  # (C, n_c)
    row = torch.cumsum(clusters, 0) - 1  # (B,) each cluster's row among the C
    in_cluster = clusters[batch.structure]  # (N,)
    values = phi[row[batch.structure[in_cluster]], slot[in_cluster]]  # (N_c,)
    return torch.zeros_like(charges).index_put((in_cluster,), values)


# ---------------------------------------------------------------------------------------------
# Potentials and energies without forming M
# ---------------------------------------------------------------------------------------------


def coulomb_potential(batch: Batch, charges: Tensor, sigma: Tensor | None = None,
                      accuracy: float = 1e-8, eta: float | None = None, method: str = "ewald") -> Tensor:
    """Electrostatic potential φ = M q at every atom, (N,), in V (eV/e), without forming M.

    ``charges`` (N,) in e may carry gradients (charges from a network or from Qeq).
    ``method="ewald"`` (default) or ``"pme"`` (torch-pme's particle-mesh Ewald for the
    long-range part of periodic structures, η = ``PME_ETA`` unless given, ~1e-8 relative;
    O(N log N), for large systems).
    """
    phi, _ = _potential(batch, charges, sigma, accuracy, eta, method, reciprocal_as_energy=False)
    return phi


def coulomb_energies(batch: Batch, charges: Tensor, sigma: Tensor | None = None, accuracy: float = 1e-8,
                     eta: float | None = None, method: str = "ewald", per_atom: bool = True) -> Tensor:
    """Electrostatic energies in eV: per atom E_i = ½ q_i φ_i, (N,), or per structure, (B,).

    For Gaussian charges E includes the self energy Σ q_i²/(2σ_i√π) (see :mod:`.direct`).
    ``charges`` may carry gradients; forces and stress follow by autograd. ``per_atom=False``
    gives the same totals with the reciprocal sum in its |S(k)|² form, whose gradient is
    about twice as cheap as the per-atom potential's: use it when only totals are needed.
    """
    phi, reciprocal = _potential(batch, charges, sigma, accuracy, eta, method,
                                 reciprocal_as_energy=not per_atom)
    energies = 0.5 * charges.to(phi.dtype) * phi  # (N,)
    return energies if per_atom else sum_per_structure(energies, batch) + reciprocal


def _potential(batch: Batch, charges: Tensor, sigma: Tensor | None, accuracy: float, eta: float | None,
               method: str, reciprocal_as_energy: bool) -> tuple[Tensor, Tensor]:
    """φ (N,) and, when ``reciprocal_as_energy``, the Ewald reciprocal sum as energies (B,) not in φ."""
    charges, sigma = check_charges_and_sigma(batch, charges, sigma)
    if method not in ("ewald", "pme"):
        raise ValueError(f"method must be 'ewald' or 'pme', got {method!r}")
    periodic = periodic_structures(batch)
    phi, reciprocal = torch.zeros_like(charges), charges.new_zeros(batch.n_structures)
    if periodic.any():
        params = ewald_parameters(batch, accuracy, sigma, eta, method=method)
        phi, reciprocal = ewald_potential(batch, charges, sigma, params, method, reciprocal_as_energy)
    if not periodic.all():
        phi = phi + _cluster_potential(batch, charges, sigma, ~periodic)
    return phi, reciprocal


class Coulomb(torch.nn.Module):
    """Fixed charges per element as an energy module: per-atom Coulomb energies for any Batch.

    >>> from ase.build import bulk
    >>> from minnp import Calculator
    >>> from minnp.electrostatics import K_E
    >>> atoms = bulk("NaCl", "rocksalt", a=5.64)
    >>> atoms.calc = Calculator(Coulomb({"Na": 1, "Cl": -1}))
    >>> round(-atoms.get_potential_energy() * (5.64 / 2) / K_E, 7)  # the Madelung constant of NaCl
    1.7475646

    ``sigma``: None (point charges), one width in Å, or a width per element.
    """

    def __init__(self, charges: Mapping[str, float], sigma: float | Mapping[str, float] | None = None,
                 accuracy: float = 1e-8, method: str = "ewald"):
        super().__init__()
        self.charges = dict(charges)
        self.sigma = sigma if sigma is None or isinstance(sigma, (int, float)) else dict(sigma)
        self.accuracy = accuracy
        self.method = method

    def forward(self, batch: Batch) -> Tensor:
        charges = per_atom(batch, self.charges, "charges")
        sigma = per_atom(batch, self.sigma, "sigma")
        return coulomb_energies(batch, charges, sigma, self.accuracy, method=self.method)


# ---------------------------------------------------------------------------------------------
# The ASE-level interface
# ---------------------------------------------------------------------------------------------


def coulomb_energy(atoms: Atoms, charges: Sequence[float], sigma=None, accuracy: float = 1e-8,
                   method: str = "ewald") -> float:
    """Electrostatic energy of one structure in eV: Ewald if periodic, the direct sum if not.

    ``charges`` one per atom in e; ``sigma`` None (point charges), one width, one per atom, or
    a dict per element (Å, standard deviations) for Gaussian charges, whose self energy is
    included. A charged periodic cell gets the neutralising background (see :mod:`.ewald`).
    """
    batch = atoms_to_batch(atoms)
    q = torch.as_tensor(np.asarray(charges, dtype=float), dtype=batch.dtype)
    energies = coulomb_energies(batch, q, per_atom(batch, sigma, "sigma"), accuracy, method=method)
    return float(sum_per_structure(energies, batch)[0])


def coulomb_matrix(atoms: Atoms, sigma=None, accuracy: float = 1e-8) -> np.ndarray:
    """The Coulomb matrix M (n, n) of one structure in eV/e², E = ½ qᵀMq (see coulomb_matrices)."""
    batch = atoms_to_batch(atoms)
    return padded_coulomb_matrices(batch, per_atom(batch, sigma, "sigma"), accuracy)[0].numpy()


# ---------------------------------------------------------------------------------------------
# Input checks, in the words a learner needs
# ---------------------------------------------------------------------------------------------


def check_charges_and_sigma(batch: Batch, charges: Tensor | None, sigma: Tensor | None):
    """Shapes, NaN and signs checked; charges and sigma returned in the batch's dtype."""
    n = batch.positions.shape[0]
    for name, t in (("charges", charges), ("sigma", sigma)):
        if t is None:
            continue
        if t.shape != (n,):
            raise ValueError(f"{name} must have one value per atom, shape ({n},), got {tuple(t.shape)}")
        bad = torch.nonzero(~torch.isfinite(t.detach())).flatten()
        if len(bad):
            raise ValueError(f"{name} contain NaN or inf at atoms {bad[:10].tolist()}")
    if sigma is not None:
        sigma = sigma.to(batch.dtype)
        if (sigma.detach() <= 0).any():
            raise ValueError("sigma (Gaussian widths) must be positive; use sigma=None for point charges")
    if charges is not None:
        charges = charges.to(batch.dtype)
    return charges, sigma


def per_atom(batch: Batch, values, name: str) -> Tensor | None:
    """None, one number, one per atom, or a dict per element -> (N,) tensor on the batch's device.

    Every value must be a finite number: a NaN or inf is an error naming the element or the atoms.
    """
    if values is None:
        return None
    kw = dict(dtype=batch.dtype, device=batch.device)
    if isinstance(values, Mapping):  # a lookup table indexed by atomic number
        for symbol, value in values.items():
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} of {symbol!r} is {float(value)}; "
                                 "give a finite number for every element")
        numbers = atomic_numbers(list(values))
        table = torch.zeros(len(chemical_symbols), **kw)
        table[numbers] = torch.tensor([float(v) for v in values.values()], **kw)
        known = torch.zeros(len(chemical_symbols), dtype=torch.bool, device=batch.device)
        known[numbers] = True
        missing = torch.unique(batch.numbers[~known[batch.numbers]]).tolist()
        if missing:
            raise ValueError(f"{name} has no value for element(s) {[chemical_symbols[z] for z in missing]}; "
                             f"give one for every element (got {sorted(values)})")
        return table[batch.numbers]  # (N,)
    t = torch.as_tensor(np.asarray(values, dtype=float), **kw)
    bad = torch.nonzero(~torch.isfinite(t.reshape(-1))).flatten()
    if len(bad):
        raise ValueError(f"{name} contain NaN or inf at atoms {bad[:10].tolist()}; give finite numbers")
    return t.expand(batch.positions.shape[0]).clone() if t.ndim == 0 else t
