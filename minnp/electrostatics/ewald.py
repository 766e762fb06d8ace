"""Ewald summation for periodic point and Gaussian charges, and the Coulomb interface of minnp.

Notebook 08 derives it; notebook 09 (charge equilibration) and 10 (4G-HDNNP) use the matrix M.

The problem. In a periodic cell the Coulomb energy per cell,

    E = ½ Σ_ij Σ'_n K_E q_i q_j / |r_ij + n|        (n: lattice vectors; ' drops i = j at n = 0)

converges only conditionally: its value depends on the order of summation. Ewald's trick splits
1/r with a Gaussian of width η (α = 1/(√2 η)) into a short-range part summed in real space and
a smooth long-range part summed in reciprocal space:

    1/r = erfc(r/(√2η))/r + erf(r/(√2η))/r

    E_real  = ½ Σ_ij Σ'_n q_i q_j erfc(|r_ij + n|/(√2η)) / |r_ij + n|          (a cutoff r_cut)
    E_recip = (2π/V) Σ_{k≠0} exp(-η²k²/2) |S(k)|² / k²,  S(k) = Σ_j q_j exp(i k·r_j)
            = (4π/V) Σ_{k in half space} ...       (S(-k) = S(k)*: half of k-space suffices)
    E_self  = -Σ_i q_i² / (√(2π) η)                 (each Gaussian's interaction with itself)
    E_bg    = -π η² Q² / V                          (Q = Σ q_i ≠ 0: a neutralising background)

(all times K_E, see :mod:`.direct`). k runs over 2π m (cell⁻¹)ᵀ, m ∈ Z³, |k| ≤ k_cut. This is
the "tin-foil" Ewald energy: no surface dipole term. A charged cell (Q ≠ 0) is handled by the
uniform neutralising background E_bg, the convention of pymatgen, torch-pme, VASP and LAMMPS.

Gaussian charges (widths σ_i, standard deviations; γ_ij = sqrt(σ_i² + σ_j²)) interact through
erf(r/(√2γ_ij))/r instead of 1/r. Every real-space image pair (i = j at n ≠ 0 included) gets
-q_i q_j erfc(r/(√2γ_ij))/r added, the Gaussian self energy Σ_i q_i²/(2σ_i√π) is added, and in
a charged cell the background term generalises to

    E_bg = -(π/V) Σ_ij q_i q_j (η² - γ_ij²) = -(π/V) (η² Q² - 2 Q Σ_i q_i σ_i²)

(the k = 0 limit of the short-range kernel). With it the energy is independent of η for
charged cells too. Like :mod:`.direct`, the energy of Gaussian charges INCLUDES their self
energy (Ko et al.'s convention); subtract :func:`~.direct.gaussian_self_energy` for n2p2's.

Matrix form. All terms are quadratic in the charges: E = ½ qᵀ M q with, per structure,

    M_ij = K_E [ Σ_n kernel(|r_ij + n|) + (8π/V) Σ_{k half} w_k cos(k·(r_i - r_j))
                 - (2π/V)(η² - σ_i² - σ_j²) + δ_ij (1/(σ_i√π) - √(2/π)/η) ]

(σ = 0 for point charges: no Gaussian self term). Every entry is independent of η, and the
diagonal holds the interaction of an atom with its own images, the self terms and the
background: M is what charge equilibration adds diag(J) to. The electrostatic potential is
φ = M q and E = ½ qᵀφ; :func:`coulomb_potential` computes φ without forming M.

Parameters from one requested relative accuracy ε (Kolafa & Perram, Mol. Sim. 9, 351 (1992)):
both truncation errors decay like exp(-s²) with s = sqrt(-ln ε) when

    r_cut = s √2 max(η, γ_max),    k_cut = √2 s / η,

and the split η balances the cost of the two sums, α = √π (w N / V²)^(1/6) (w: the cost of a
real-space pair relative to a k-vector per atom), which makes Ewald O(N^1.5). All overridable.

Batches: real-space pairs for every structure at once from the minnp neighbour list; the
reciprocal sum loops over structures (each has its own cell and k-vectors). Structures with
pbc all False use the direct sum (:mod:`.direct`); pbc must be all True or all False.
Forces and stress come from autograd through positions and cell (:mod:`minnp.calculator`).
For large systems ``method="pme"`` takes the long-range part from torch-pme's particle-mesh
Ewald (same interface, O(N log N), ~1e-8 relative); minnp writes no mesh method.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

from minnp.batch import Batch, atomic_numbers, atoms_to_batch, sum_per_structure
from minnp.electrostatics.direct import K_E, direct_matrix

Tensor = torch.Tensor

# Cost of one real-space pair relative to one (atom, k-vector) term, measured for this code on
# a CPU (benchmarks/bench_ewald.py); it only moves the balance point, never the accuracy.
COST_RATIO = 15.0
# Splitting width for torch-pme's PME: its mesh (spacing η/2, 7-point Lagrange interpolation)
# then reaches ~1e-8 relative energies on dense ionic systems; the real-space cutoff follows
# from the requested accuracy.
PME_ETA = 2.0


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class EwaldParameters:
    """Splitting width and cutoffs. Plain floats: they are numerical knobs, not differentiated."""

    eta: list[float]  # (B,) Gaussian splitting width per structure, Å; α = 1/(√2 η)
    k_cut: list[float]  # (B,) reciprocal-space cutoff per structure, 1/Å
    r_cut: float  # real-space cutoff, Å, one for the batch (one neighbour list)


def ewald_parameters(batch: Batch, accuracy: float = 1e-8, sigma: Tensor | None = None,
                     eta: float | None = None, r_cut: float | None = None,
                     k_cut: float | None = None, method: str = "ewald") -> EwaldParameters:
    """η, r_cut and k_cut for a requested relative accuracy (see the module docstring).

    ``eta``, ``r_cut`` and ``k_cut`` override the automatic choice (given an ``eta``, the
    cutoffs still follow the accuracy). With ``method="pme"`` η defaults to ``PME_ETA``.
    Non-periodic structures get η = k_cut = 0 (unused).
    """
    if not 0 < accuracy < 1:
        raise ValueError(f"accuracy must be between 0 and 1 (a relative error), got {accuracy}")
    s = math.sqrt(-math.log(accuracy))
    periodic = periodic_structures(batch).tolist()
    volume = batch.volume().detach().tolist()
    n_atoms = batch.n_atoms.tolist()
    sigma_max = 0.0 if sigma is None else float(sigma.detach().max())
    etas = []
    for b in range(batch.n_structures):
        if not periodic[b]:
            etas.append(0.0)
        elif eta is not None:
            etas.append(float(eta))
        elif method == "pme":
            etas.append(PME_ETA)
        else:  # α = √π (w N / V²)^(1/6), η = 1/(√2 α)
            etas.append((volume[b] ** 2 / (COST_RATIO * n_atoms[b])) ** (1 / 6) / math.sqrt(2 * math.pi))
    if k_cut is None:
        k_cuts = [math.sqrt(2) * s / e if e > 0 else 0.0 for e in etas]
    else:
        k_cuts = [float(k_cut) if e > 0 else 0.0 for e in etas]
    if r_cut is None:
        r_cut = s * math.sqrt(2) * max(max(etas), math.sqrt(2) * sigma_max)
    return EwaldParameters(eta=etas, k_cut=k_cuts, r_cut=float(r_cut))


def half_kvectors(cell: Tensor, k_cut: float) -> Tensor:
    """Reciprocal lattice vectors k = m·2π(cell⁻¹)ᵀ with 0 < |k| ≤ k_cut, one of each ±k pair.

    ``cell`` (3, 3) rows = lattice vectors. Returns (K, 3), differentiable in the cell. The
    integers m_a run over |m_a| ≤ ceil(k_cut |a_a| / 2π) (k·a_a = 2π m_a), and m is kept when
    its first non-zero component is positive: the half space.
    """
    reciprocal = 2 * math.pi * torch.linalg.inv(cell).T  # (3, 3) rows b_a, a_a·b_b = 2π δ_ab
    n_max = [math.ceil(k_cut * float(a.norm()) / (2 * math.pi)) for a in cell.detach()]
    axes = [torch.arange(-n, n + 1, device=cell.device) for n in n_max]
    m = torch.cartesian_prod(*axes)  # (M, 3) integer triples
    first, second, third = m.unbind(dim=1)
    half = (first > 0) | ((first == 0) & (second > 0)) | ((first == 0) & (second == 0) & (third > 0))
    m = m[half].to(cell.dtype)
    inside = (m @ reciprocal.detach()).norm(dim=1) <= k_cut
    return m[inside] @ reciprocal  # (K, 3)


# ---------------------------------------------------------------------------------------------
# The three parts of Ewald: real space (whole batch), reciprocal space, self + background
# ---------------------------------------------------------------------------------------------


def _real_space(batch: Batch, params: EwaldParameters, sigma: Tensor | None, periodic: Tensor):
    """Pairs (i, j) within r_cut of periodic structures and their kernel value (P,), in 1/Å."""
    nbrs = batch.neighbors(params.r_cut)
    i, j, structure = nbrs.i, nbrs.j, batch.batch[nbrs.i]  # (P,)
    r = nbrs.vectors(batch).norm(dim=1)  # (P,)
    if not periodic.all():  # clusters in the batch take the direct sum instead
        keep = periodic[structure]
        i, j, structure, r = i[keep], j[keep], structure[keep], r[keep]
    eta = torch.tensor(params.eta, dtype=r.dtype, device=r.device)[structure]  # (P,)
    kernel = torch.erfc(r / (math.sqrt(2) * eta)) / r
    if sigma is not None:  # Gaussian charges: [erfc(r/√2η) - erfc(r/√2γ)]/r = [erf(r/√2γ) - erf(r/√2η)]/r
        gamma = torch.sqrt(sigma[i] ** 2 + sigma[j] ** 2)  # (P,)
        kernel = kernel - torch.erfc(r / (math.sqrt(2) * gamma)) / r
    return i, j, kernel


def _reciprocal_factors(positions: Tensor, cell: Tensor, eta: float, k_cut: float):
    """cos(k·r_i), sin(k·r_i) (n, K) and the weights w_k = (8π/V) exp(-η²k²/2)/k² (K,)."""
    k = half_kvectors(cell, k_cut)  # (K, 3)
    k2 = (k**2).sum(dim=1)  # (K,)
    volume = torch.linalg.det(cell).abs()
    weight = 8 * math.pi / volume * torch.exp(-0.5 * eta**2 * k2) / k2  # (K,)
    phase = positions @ k.T  # (n, K)
    return torch.cos(phase), torch.sin(phase), weight


def _self_and_background_matrix(cell: Tensor, eta: float, sigma: Tensor | None, n: int) -> Tensor:
    """The self terms (diagonal) and the neutralising background (every entry), (n, n), 1/Å."""
    volume = torch.linalg.det(cell).abs()
    s2 = cell.new_zeros(n) if sigma is None else sigma**2  # (n,)
    background = -2 * math.pi / volume * (eta**2 - s2[:, None] - s2[None, :])  # (n, n)
    diagonal = cell.new_full((n,), -math.sqrt(2 / math.pi) / eta)
    if sigma is not None:
        diagonal = diagonal + 1 / (sigma * math.sqrt(math.pi))
    return background + torch.diag_embed(diagonal)


def _self_and_background_potential(cell: Tensor, eta: float, charges: Tensor, sigma: Tensor | None) -> Tensor:
    """The same terms acting on the charges, φ_i (n,), e/Å: never forms an (n, n) matrix."""
    volume = torch.linalg.det(cell).abs()
    total = charges.sum()
    phi = -math.sqrt(2 / math.pi) / eta * charges - 2 * math.pi / volume * eta**2 * total
    if sigma is not None:
        phi = phi + charges / (sigma * math.sqrt(math.pi))
        phi = phi + 2 * math.pi / volume * (sigma**2 * total + (charges * sigma**2).sum())
    return phi


def _pme_long_range(positions: Tensor, cell: Tensor, charges: Tensor, eta: float) -> Tensor:
    """torch-pme's particle-mesh reciprocal sum + point self term + point background, φ (n,), e/Å."""
    import torchpme

    potential = torchpme.CoulombPotential(smearing=eta).to(dtype=positions.dtype, device=positions.device)
    calculator = torchpme.PMECalculator(potential, mesh_spacing=eta / 2, interpolation_nodes=7)
    no_pairs = torch.zeros((0, 2), dtype=torch.long, device=positions.device)
    no_distances = positions.new_zeros(0)
    half_phi = calculator(charges[:, None], cell, positions, no_pairs, no_distances)  # (n, 1)
    return 2 * half_phi[:, 0]  # torch-pme's "potential" is ½ Σ_j q_j v(r_ij)


# ---------------------------------------------------------------------------------------------
# The tensor-level interface: Coulomb matrices, potentials and energies for a Batch
# ---------------------------------------------------------------------------------------------


def coulomb_matrices(batch: Batch, sigma: Tensor | None = None, accuracy: float = 1e-8,
                     eta: float | None = None) -> list[Tensor]:
    """The Coulomb matrix of every structure: a list of (n_s, n_s) tensors, eV/e².

    E_s = ½ q_sᵀ M_s q_s, with q_s the charges of structure s in batch order. Ewald for
    periodic structures, the direct sum for clusters (pbc all False). ``sigma`` (N,) in Å
    gives Gaussian charges; their self energy 1/(σ_i√π) is ON the diagonal (see the module
    docstring; charge equilibration adds diag(J) to M). Differentiable in positions, cell
    and sigma, so forces flow through a linear solve with M.
    """
    _, sigma = check_charges_and_sigma(batch, None, sigma)
    periodic = periodic_structures(batch)
    ptr, n = batch.ptr.tolist(), batch.n_atoms.tolist()
    real = None
    if periodic.any():
        params = ewald_parameters(batch, accuracy, sigma, eta)
        i, j, kernel = _real_space(batch, params, sigma, periodic)
        # scatter every pair into its structure's block of one flat buffer of Σ n_s² entries
        offset = torch.cumsum(batch.n_atoms**2, 0) - batch.n_atoms**2  # (B,)
        s, start = batch.batch[i], batch.ptr[batch.batch[i]]
        flat = offset[s] + (i - start) * batch.n_atoms[s] + (j - start)  # (P,)
        real = kernel.new_zeros(int((batch.n_atoms**2).sum())).index_add(0, flat, kernel)
        offset = offset.tolist()
    matrices = []
    for b in range(batch.n_structures):
        lo, hi = ptr[b], ptr[b + 1]
        x = batch.positions[lo:hi]
        sig = None if sigma is None else sigma[lo:hi]
        if not periodic[b]:
            matrices.append(direct_matrix(x, sig))
            continue
        cell, eta_b = batch.cell[b], params.eta[b]
        cos, sin, weight = _reciprocal_factors(x, cell, eta_b, params.k_cut[b])
        m = real[offset[b]: offset[b] + n[b] ** 2].view(n[b], n[b])
        m = m + (cos * weight) @ cos.T + (sin * weight) @ sin.T
        m = m + _self_and_background_matrix(cell, eta_b, sig, n[b])
        matrices.append(K_E * m)
    return matrices


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

    For Gaussian charges E includes the self energy Σ q_i²/(2σ_i√π) (module docstring).
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
    phi = torch.zeros_like(charges)
    if periodic.any():
        params = ewald_parameters(batch, accuracy, sigma, eta, method=method)
        i, j, kernel = _real_space(batch, params, sigma, periodic)
        phi = K_E * phi.index_add(0, i, kernel * charges[j])  # full list: every (i, j) and (j, i)
    ptr = batch.ptr.tolist()
    parts = []  # per structure: reciprocal + self + background, or the direct sum
    reciprocal = [charges.new_zeros(())] * batch.n_structures  # (B,) E_recip when asked for
    for b in range(batch.n_structures):
        lo, hi = ptr[b], ptr[b + 1]
        x, q = batch.positions[lo:hi], charges[lo:hi]
        sig = None if sigma is None else sigma[lo:hi]
        if not periodic[b]:
            parts.append(direct_matrix(x, sig) @ q)
            continue
        cell, eta_b = batch.cell[b], params.eta[b]
        if method == "pme":
            part = _pme_long_range(x, cell, q, eta_b)
            if sig is not None:  # Gaussian self and background terms beyond torch-pme's point ones
                part = part + _self_and_background_potential(cell, eta_b, q, sig)
                part = part - _self_and_background_potential(cell, eta_b, q, None)
        else:
            cos, sin, weight = _reciprocal_factors(x, cell, eta_b, params.k_cut[b])
            real_s, imag_s = q @ cos, q @ sin  # (K,) the structure factor S(k) = Σ_j q_j exp(i k·r_j)
            part = _self_and_background_potential(cell, eta_b, q, sig)
            if reciprocal_as_energy:  # E_recip = ½ Σ_k w_k |S(k)|²  (w_k holds 8π/V: half k-space)
                reciprocal[b] = K_E * 0.5 * (weight * (real_s**2 + imag_s**2)).sum()
            else:  # φ_i = Σ_k w_k Re[exp(-i k·r_i) S(k)]
                part = part + cos @ (weight * real_s) + sin @ (weight * imag_s)
        parts.append(K_E * part)
    return phi + torch.cat(parts), torch.stack(reciprocal)


class Coulomb(torch.nn.Module):
    """Fixed charges per element as an energy module: per-atom Coulomb energies for any Batch.

    >>> from ase.build import bulk
    >>> from minnp import Calculator
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
    included. A charged periodic cell gets the neutralising background (module docstring).
    """
    batch = atoms_to_batch(atoms)
    q = torch.as_tensor(np.asarray(charges, dtype=float), dtype=batch.dtype)
    energies = coulomb_energies(batch, q, per_atom(batch, sigma, "sigma"), accuracy, method=method)
    return float(sum_per_structure(energies, batch)[0])


def coulomb_matrix(atoms: Atoms, sigma=None, accuracy: float = 1e-8) -> np.ndarray:
    """The Coulomb matrix M (n, n) of one structure in eV/e², E = ½ qᵀMq (see coulomb_matrices)."""
    batch = atoms_to_batch(atoms)
    return coulomb_matrices(batch, per_atom(batch, sigma, "sigma"), accuracy)[0].numpy()


# ---------------------------------------------------------------------------------------------
# Input checks, in the words a learner needs
# ---------------------------------------------------------------------------------------------


def periodic_structures(batch: Batch) -> Tensor:
    """(B,) True for fully periodic structures; a clear error for slabs and wires."""
    full, none = batch.pbc.all(dim=1), ~batch.pbc.any(dim=1)
    mixed = ~(full | none)
    if mixed.any():
        b = int(torch.nonzero(mixed)[0])
        raise ValueError(
            f"structure {b} has pbc={batch.pbc[b].tolist()}: Coulomb sums need pbc all True (Ewald) "
            "or all False (direct sum); for a slab use a large vacuum and pbc=True"
        )
    volume = batch.volume()
    bad = full & ~(volume > 1e-12)
    if bad.any():
        b = int(torch.nonzero(bad)[0])
        raise ValueError(f"structure {b}: cell is singular (volume {float(volume[b]):.3g} Å³) "
                         "but pbc=True; give it three independent lattice vectors or set pbc=False")
    return full


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
    """None, one number, one per atom, or a dict per element -> (N,) tensor on the batch's device."""
    if values is None:
        return None
    kw = dict(dtype=batch.dtype, device=batch.device)
    if isinstance(values, Mapping):  # a lookup table indexed by atomic number
        table = torch.full((len(chemical_symbols),), math.nan, **kw)
        table[atomic_numbers(list(values))] = torch.tensor([float(v) for v in values.values()], **kw)
        t = table[batch.numbers]  # (N,)
        missing = torch.unique(batch.numbers[torch.isnan(t)]).tolist()
        if missing:
            raise ValueError(f"{name} has no value for element(s) {[chemical_symbols[z] for z in missing]}; "
                             f"give one for every element (got {sorted(values)})")
        return t
    t = torch.as_tensor(np.asarray(values, dtype=float), **kw)
    return t.expand(batch.positions.shape[0]).clone() if t.ndim == 0 else t
