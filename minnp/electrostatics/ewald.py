"""Ewald summation for periodic point and Gaussian charges: the method that sums the kernel of :mod:`.direct`.

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
background: M is what charge equilibration adds diag(J) to (:func:`ewald_matrices`). The
electrostatic potential is φ = M q and E = ½ qᵀφ; :func:`ewald_potential` computes φ without
forming M.

Parameters from one requested relative accuracy ε (Kolafa & Perram, Mol. Sim. 9, 351 (1992)):
both truncation errors decay like exp(-s²) with s = sqrt(-ln ε) when

    r_cut = s √2 max(η, γ_max),    k_cut = √2 s / η,        (per structure)

and the split η balances the cost of the two sums, α = √π (w N / V²)^(1/6) (w: the cost of a
real-space pair relative to a k-vector per atom), which makes Ewald O(N^1.5). All overridable.

Batches: every structure has its own η, k_cut and r_cut (a 2-atom cell batched with a 60 Å
box keeps its own few dozen real-space pairs). The real-space pairs come from the minnp
neighbour list, for the whole batch at once when the structures share one cutoff (then cached
on the batch), structure by structure otherwise; the reciprocal sum loops over structures (each
has its own cell and k-vectors). This module sums periodic structures only (pbc all True); the
Coulomb interface (:mod:`.coulomb`) gives clusters (pbc all False) to the direct sum.
Forces and stress come from autograd through positions and cell (:mod:`minnp.calculator`).
For large systems ``method="pme"`` takes the long-range part from torch-pme's particle-mesh
Ewald (same interface, O(N log N), ~1e-8 relative); minnp writes no mesh method.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from minnp.batch import Batch, atoms_to_batch
from minnp.electrostatics.direct import K_E, gaussian_kernel_at_zero, padded_layout, screened_kernel
from minnp.neighbors import Neighbors

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
    """Splitting width and cutoffs per structure. Plain floats: numerical knobs, not differentiated.

    A structure that is not periodic gets 0 for all three (the direct sum takes it).
    """

    eta: list[float]  # (B,) Gaussian splitting width, Å; α = 1/(√2 η)
    k_cut: list[float]  # (B,) reciprocal-space cutoff, 1/Å
    r_cut: list[float]  # (B,) real-space cutoff, Å

    @property
    def periodic(self) -> list[bool]:
        return [eta > 0 for eta in self.eta]


def ewald_parameters(batch: Batch, accuracy: float = 1e-8, sigma: Tensor | None = None,
                     eta: float | None = None, r_cut: float | None = None,
                     k_cut: float | None = None, method: str = "ewald") -> EwaldParameters:
    """η, r_cut and k_cut of every structure for a requested relative accuracy (module docstring).

    ``eta``, ``r_cut`` and ``k_cut`` override the automatic choice (given an ``eta``, the
    cutoffs still follow the accuracy). With ``method="pme"`` η defaults to ``PME_ETA``.
    ``sigma`` (N,): the Gaussian widths, whose largest in each structure widens its r_cut.
    """
    if not 0 < accuracy < 1:
        raise ValueError(f"accuracy must be between 0 and 1 (a relative error), got {accuracy}")
    s = math.sqrt(-math.log(accuracy))
    periodic = periodic_structures(batch).tolist()
    volume = batch.volume().detach().tolist()
    n_atoms = batch.n_atoms.tolist()
    sigma_max = [0.0] * batch.n_structures  # (B,) the widest Gaussian of each structure
    if sigma is not None:
        widest = sigma.detach().new_zeros(batch.n_structures)
        sigma_max = widest.scatter_reduce(0, batch.structure, sigma.detach(), "amax").tolist()
    etas, k_cuts, r_cuts = [], [], []
    for b in range(batch.n_structures):
        if not periodic[b]:  # the direct sum takes it
            etas.append(0.0)
            k_cuts.append(0.0)
            r_cuts.append(0.0)
            continue
        if eta is not None:
            eta_b = float(eta)
        elif method == "pme":
            eta_b = PME_ETA
        else:  # α = √π (w N / V²)^(1/6), η = 1/(√2 α)
            eta_b = (volume[b] ** 2 / (COST_RATIO * n_atoms[b])) ** (1 / 6) / math.sqrt(2 * math.pi)
        etas.append(eta_b)
        k_cuts.append(math.sqrt(2) * s / eta_b if k_cut is None else float(k_cut))
        widest = max(eta_b, math.sqrt(2) * sigma_max[b])  # the widest Gaussian kernel: η or γ_max
        r_cuts.append(s * math.sqrt(2) * widest if r_cut is None else float(r_cut))
    return EwaldParameters(eta=etas, k_cut=k_cuts, r_cut=r_cuts)


def periodic_structures(batch: Batch) -> Tensor:
    """(B,) True for fully periodic structures; a clear error for slabs, wires and singular cells."""
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
# The three parts of Ewald: real space, reciprocal space, self + background
# ---------------------------------------------------------------------------------------------


def real_space_pairs(batch: Batch, params: EwaldParameters) -> Neighbors:
    """Neighbour pairs of the periodic structures, each structure within its own r_cut.

    One cutoff for all: the batch's cached neighbour list. Different cutoffs: a list per
    structure, so a small cell never pays for the large cutoff of a large box in its batch.
    """
    cutoffs = {r for r, p in zip(params.r_cut, params.periodic) if p}
    if len(cutoffs) == 1:
        nbrs = batch.neighbors(cutoffs.pop())
        if all(params.periodic):
            return nbrs
        keep = torch.tensor(params.periodic, device=batch.device)[batch.structure[nbrs.i]]  # (P,)
        return Neighbors(nbrs.i[keep], nbrs.j[keep], nbrs.shift[keep], nbrs.r_cut)
    structures, ptr = batch.to_atoms(), batch.ptr.tolist()
    parts = [atoms_to_batch(structures[b], device=batch.device, dtype=batch.dtype).neighbors(params.r_cut[b])
             for b in range(batch.n_structures) if params.periodic[b]]
    offsets = [ptr[b] for b in range(batch.n_structures) if params.periodic[b]]
    return Neighbors(i=torch.cat([p.i + lo for p, lo in zip(parts, offsets)]),
                     j=torch.cat([p.j + lo for p, lo in zip(parts, offsets)]),
                     shift=torch.cat([p.shift for p in parts]), r_cut=max(cutoffs))


def _real_space(batch: Batch, params: EwaldParameters, sigma: Tensor | None):
    """Pairs (i, j) within r_cut of periodic structures and their kernel value (P,), in 1/Å."""
    nbrs = real_space_pairs(batch, params)
    i, j = nbrs.i, nbrs.j  # (P,)
    r = nbrs.vectors(batch).norm(dim=1)  # (P,)
    if len(r) and bool(r.detach().min() < 1e-8):  # 1/0: two atoms on one site
        p = int(r.detach().argmin())
        b = int(batch.structure[i[p]])
        a, c = int(i[p] - batch.ptr[b]), int(j[p] - batch.ptr[b])
        raise ValueError(f"atoms {a} and {c} of structure {b} are at the same "
                         "position (one may sit on the other's periodic image): their Coulomb energy is "
                         "undefined; remove the duplicate atom")
    eta = torch.tensor(params.eta, dtype=r.dtype, device=r.device)[batch.structure[i]]  # (P,)
    kernel = screened_kernel(r, eta)
    if sigma is not None:  # Gaussian charges: [erfc(r/√2η) - erfc(r/√2γ)]/r = [erf(r/√2γ) - erf(r/√2η)]/r
        gamma = torch.sqrt(sigma[i] ** 2 + sigma[j] ** 2)  # (P,)
        kernel = kernel - screened_kernel(r, gamma)
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
    diagonal = cell.new_full((n,), -gaussian_kernel_at_zero(eta))  # -√(2/π)/η
    if sigma is not None:
        diagonal = diagonal + gaussian_kernel_at_zero(math.sqrt(2) * sigma)  # 1/(σ√π)
    return background + torch.diag_embed(diagonal)


def _self_and_background_potential(cell: Tensor, eta: float, charges: Tensor, sigma: Tensor | None) -> Tensor:
    """The same terms acting on the charges, φ_i (n,), e/Å: never forms an (n, n) matrix."""
    volume = torch.linalg.det(cell).abs()
    total = charges.sum()
    phi = -gaussian_kernel_at_zero(eta) * charges - 2 * math.pi / volume * eta**2 * total
    if sigma is not None:
        phi = phi + gaussian_kernel_at_zero(math.sqrt(2) * sigma) * charges
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
# The Ewald matrix and potential of the periodic structures of a batch
# ---------------------------------------------------------------------------------------------


def ewald_matrices(batch: Batch, sigma: Tensor | None, params: EwaldParameters) -> Tensor:
    """The Ewald matrix M of every periodic structure, (B, n_max, n_max) in eV/e², zero elsewhere.

    The batched layout of :mod:`.direct`: structure b in the top-left (n_b, n_b) block; rows of
    non-periodic structures are zero. ``sigma`` (N,) Gaussian widths in Å or None for point charges.
    """
    slot, real = padded_layout(batch)
    n_max, ptr, n = real.shape[1], batch.ptr.tolist(), batch.n_atoms.tolist()
    i, j, kernel = _real_space(batch, params, sigma)
    s = batch.structure[i]  # (P,)
    matrices = kernel.new_zeros(real.shape + (n_max,))  # (B, n_max, n_max)
    matrices = matrices.index_put((s, slot[i], slot[j]), kernel, accumulate=True)  # real space
    blocks = []  # per structure: reciprocal + self + background, (n_max, n_max)
    for b in range(batch.n_structures):
        if not params.periodic[b]:
            blocks.append(matrices.new_zeros(n_max, n_max))
            continue
        lo, hi = ptr[b], ptr[b + 1]
        cell, eta = batch.cell[b], params.eta[b]
        cos, sin, weight = _reciprocal_factors(batch.positions[lo:hi], cell, eta, params.k_cut[b])
        m = (cos * weight) @ cos.T + (sin * weight) @ sin.T
        m = m + _self_and_background_matrix(cell, eta, None if sigma is None else sigma[lo:hi], n[b])
        blocks.append(torch.nn.functional.pad(m, (0, n_max - n[b], 0, n_max - n[b])))
    return K_E * (matrices + torch.stack(blocks))


def ewald_potential(batch: Batch, charges: Tensor, sigma: Tensor | None, params: EwaldParameters,
                    method: str = "ewald", reciprocal_as_energy: bool = False) -> tuple[Tensor, Tensor]:
    """φ (N,) in V at the atoms of periodic structures (0 elsewhere), without forming M.

    Also returns (B,) energies in eV: with ``reciprocal_as_energy`` the reciprocal sum in its
    |S(k)|² form, E_recip = ½ Σ_k w_k |S(k)|², which is then left out of φ (its gradient is
    about twice as cheap); zeros otherwise. ``method="pme"`` takes the long-range part from
    torch-pme's particle-mesh Ewald.
    """
    i, j, kernel = _real_space(batch, params, sigma)
    phi = torch.zeros_like(charges).index_add(0, i, kernel * charges[j])  # full list: (i, j) and (j, i)
    ptr = batch.ptr.tolist()
    parts = []  # per structure: reciprocal + self + background (zero for non-periodic ones)
    reciprocal = [charges.new_zeros(())] * batch.n_structures  # (B,)
    for b in range(batch.n_structures):
        lo, hi = ptr[b], ptr[b + 1]
        x, q = batch.positions[lo:hi], charges[lo:hi]
        if not params.periodic[b]:
            parts.append(q.new_zeros(hi - lo))
            continue
        sig = None if sigma is None else sigma[lo:hi]
        cell, eta = batch.cell[b], params.eta[b]
        if method == "pme":
            part = _pme_long_range(x, cell, q, eta)
            if sig is not None:  # Gaussian self and background terms beyond torch-pme's point ones
                part = part + _self_and_background_potential(cell, eta, q, sig)
                part = part - _self_and_background_potential(cell, eta, q, None)
        else:
            cos, sin, weight = _reciprocal_factors(x, cell, eta, params.k_cut[b])
            real_s, imag_s = q @ cos, q @ sin  # (K,) the structure factor S(k) = Σ_j q_j exp(i k·r_j)
            part = _self_and_background_potential(cell, eta, q, sig)
            if reciprocal_as_energy:  # E_recip = ½ Σ_k w_k |S(k)|²  (w_k holds 8π/V: half k-space)
                reciprocal[b] = K_E * 0.5 * (weight * (real_s**2 + imag_s**2)).sum()
            else:  # φ_i = Σ_k w_k Re[exp(-i k·r_i) S(k)]
                part = part + cos @ (weight * real_s) + sin @ (weight * imag_s)
        parts.append(part)
    return K_E * (phi + torch.cat(parts)), torch.stack(reciprocal)
