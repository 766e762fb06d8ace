"""The embedded-atom method in torch: LAMMPS' tabulated EAM exactly (funcfl, setfl, Finnis–Sinclair).

Notebook 01 derives it, plots F, ρ and φ, and computes lattice, elastic and defect properties.

An atom's energy is the energy of embedding it in the electron density its neighbours
create, plus a pair repulsion (Daw & Baskes, PRB 29, 6443 (1984)):

    E_i = F_a(ρ_i) + ½ Σ_{j≠i} φ_ab(r_ij),      ρ_i = Σ_{j≠i} f_b(r_ij)

with a, b the elements of atoms i and j. F is the embedding function, f the density an atom
of element b puts at distance r, φ the pair potential. Finnis–Sinclair potentials (Phil. Mag.
A 50, 45 (1984); LAMMPS' ``eam/fs``) let that density depend on both elements, ρ_i = Σ_j ρ_ba(r_ij).

:class:`EAM` holds the three functions as tables, read with :meth:`EAM.from_file` (the formats
are in :mod:`minnp.potentials.eam_files`) and evaluated the way LAMMPS' ``pair_style eam``,
``eam/alloy`` and ``eam/fs`` do:

- Each table becomes a cubic spline whose node slopes are LAMMPS' 5-point finite differences;
  r·φ is splined, not φ. The index is m = int(x/Δ) clamped to the table, the fraction p ≤ 1.
- Above the table's ρ_max, F continues linearly with slope F'(ρ_max).

:func:`eam_energies` is the energy above written once, for tables and for the closed-form
functions of :class:`minnp.potentials.ZhouEAM` (:mod:`minnp.potentials.zhou_eam`). Forces and
stress come from autograd (:mod:`minnp.calculator`).

The fast path. Autograd through every spline of every pair is most of the cost of forces on
large cells, and the derivative it finds is one number per pair,

    ∂E/∂r_p = F'(ρ_i) f'(r_p) + ½ φ'(r_p)      for the pair p = i-j,   φ' = ((rφ)' - φ) / r,

which the same spline coefficients give directly (LAMMPS' ``fp`` and ``rhojp``/``z2p``).
:func:`eam_energies_fast` computes it in the forward pass and, in backward, turns it into the
pair forces and the virial itself (:class:`EAMFromPositions`), chunk by chunk of pairs.
:class:`EAM` uses it; :func:`eam_energies` stays the definition (tests/test_eam.py checks they agree
to 1e-12).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase.data import atomic_masses

from minnp.batch import Batch, atomic_numbers, species_index
from minnp.potentials import eam_files
from minnp.potentials.potential_file import check_path

Tensor = torch.Tensor


# --- the EAM energy, written once for tables and formulas ---------------------------------------

def eam_energies(batch: Batch, r_cut: float, species: Sequence[int], embedding, density, pair) -> Tensor:
    """Per-atom EAM energies E_i = F(ρ_i) + ½ Σ_j φ(r_ij), (N,), in the batch's dtype.

    ``embedding(rho, t)``, ``density(r, t_j, t_i)`` (the density an atom of element t_j puts at
    an atom of element t_i) and ``pair(r, t_i, t_j)`` evaluate F, f and φ for element indices
    t into ``species`` (atomic numbers).
    """
    t = species_index(batch.numbers, species, "this EAM potential")  # (N,)
    nbrs = batch.neighbors(r_cut)
    r = nbrs.vectors(batch).norm(dim=1)  # (P,)
    ti, tj = t[nbrs.i], t[nbrs.j]
    zeros = torch.zeros_like(batch.positions[:, 0])  # (N,)
    # the functions compute in the potential's dtype; sums and results follow the batch's
    rho = zeros.index_add(0, nbrs.i, density(r, tj, ti).to(zeros.dtype))  # (N,) density at each atom
    # the full list holds i-j and j-i: half of each pair's energy to i
    pair_energy = zeros.index_add(0, nbrs.i, 0.5 * pair(r, ti, tj).to(zeros.dtype))
    return embedding(rho, t).to(zeros.dtype) + pair_energy


# --- LAMMPS' splines ----------------------------------------------------------------------------

def lammps_spline(values: np.ndarray) -> np.ndarray:
    """Cubic-spline coefficients of a uniform table, LAMMPS' ``PairEAM::interpolate``.

    Returns (..., n, 4): on interval m, y(p) = ((c0 p + c1) p + c2) p + c3 for 0 ≤ p ≤ 1.
    The slopes at the nodes (in units of the grid step) are 5-point central differences,
    (y[m-2] - y[m+2] + 8 (y[m+1] - y[m-1])) / 12, one-sided at the two ends.
    """
    y = np.asarray(values, dtype=np.float64)
    n = y.shape[-1]
    if n < 5:
        raise ValueError(f"a spline table needs at least 5 points, got {n}")
    slope = np.empty_like(y)
    slope[..., 0] = y[..., 1] - y[..., 0]
    slope[..., 1] = 0.5 * (y[..., 2] - y[..., 0])
    slope[..., n - 2] = 0.5 * (y[..., n - 1] - y[..., n - 3])
    slope[..., n - 1] = y[..., n - 1] - y[..., n - 2]
    slope[..., 2:n - 2] = ((y[..., 0:n - 4] - y[..., 4:n]) + 8.0 * (y[..., 3:n - 1] - y[..., 1:n - 3])) / 12.0
    step = y[..., 1:] - y[..., :-1]  # (..., n-1)
    c1 = np.zeros_like(y)
    c0 = np.zeros_like(y)
    c1[..., :-1] = 3.0 * step - 2.0 * slope[..., :-1] - slope[..., 1:]
    c0[..., :-1] = slope[..., :-1] + slope[..., 1:] - 2.0 * step
    return np.stack([c0, c1, slope, y], axis=-1)


def spline_value(coefficients: Tensor, element: Tensor, x: Tensor, delta: float) -> Tensor:
    """Evaluate splines ``coefficients`` (n_el, n, 4) of element ``element`` at x, as LAMMPS does.

    x/Δ + 1 = m + p: m is the 1-based interval, kept within 1..n-1, and p ≤ 1, so beyond the
    table the last node's value is returned. Autograd differentiates through p.
    """
    n = coefficients.shape[1]
    p = x * (1.0 / delta) + 1.0
    m = p.detach().floor().clamp(1, n - 1)
    p = (p - m).clamp(max=1.0)
    c = coefficients[element, m.long() - 1]  # (..., 4)
    return ((c[..., 0] * p + c[..., 1]) * p + c[..., 2]) * p + c[..., 3]


def spline_slope(coefficients: Tensor, element: Tensor, x: Tensor, delta: float) -> Tensor:
    """dy/dx of the same spline at x (LAMMPS' F'(ρ) above the table), without a graph through p."""
    n = coefficients.shape[1]
    p = x.detach() * (1.0 / delta) + 1.0
    m = p.floor().clamp(1, n - 1)
    p = (p - m).clamp(max=1.0)
    c = coefficients[element, m.long() - 1]
    return ((3.0 * c[..., 0] * p + 2.0 * c[..., 1]) * p + c[..., 2]) / delta


def spline_value_and_derivative(coefficients: Tensor, element: Tensor | None, x: Tensor, delta: float
                                ) -> tuple[Tensor, Tensor]:
    """:func:`spline_value` and its derivative dy/dx as autograd finds it (0 where p is clamped at
    the table's end), without a graph; ``element=None`` for a table of one element.

    One lookup serves both, and it reads the four coefficients as four contiguous columns
    (``index_select`` on each), about twice as fast as gathering rows of 4 on large inputs.
    """
    n = coefficients.shape[1]
    p = x.detach() * (1.0 / delta) + 1.0
    m = p.floor().clamp(1, n - 1)
    p = p - m
    inside = p <= 1.0  # beyond the last node the value is constant
    p = p.clamp(max=1.0)
    row = m.long() - 1 if element is None else element * n + (m.long() - 1)  # (...,) into n_el * n
    columns = coefficients.reshape(-1, 4).T.contiguous()  # (4, n_el * n)
    c0, c1, c2, c3 = (column.index_select(0, row.reshape(-1)).reshape(row.shape) for column in columns)
    y = ((c0 * p + c1) * p + c2) * p + c3
    dy = ((3.0 * c0 * p + 2.0 * c1) * p + c2) * (1.0 / delta)
    return y, dy * inside


# --- the fast path: ∂E/∂r per pair from the splines, no autograd through them --------------------

def eam_energies_fast(batch: Batch, model: EAM) -> Tensor:
    """:func:`eam_energies` of a tabulated :class:`EAM`, (N,), with the pair derivatives computed
    alongside the energy (:class:`EAMFromPositions`): the same numbers, forces several times faster."""
    t = species_index(batch.numbers, model.numbers, "this EAM potential")  # (N,)
    nbrs = batch.neighbors(model.r_cut)
    pair_structure = None if batch.n_structures == 1 else batch.structure.index_select(0, nbrs.i)  # (P,)
    energies = EAMFromPositions.apply(batch.positions, batch.cell, nbrs.i, nbrs.j, nbrs.shift, pair_structure,
                                      t, model)
    return energies.to(batch.positions.dtype)


PAIR_CHUNK = 2**16  # pairs per chunk in EAMFromPositions (a few hundred kB per temporary)


def _chunk_vectors(positions: Tensor, cell: Tensor, i: Tensor, j: Tensor, shift: Tensor,
                   pair_structure: Tensor | None) -> Tensor:
    """r_ij = x_j - x_i + S·cell of a chunk of pairs, (p, 3): :meth:`minnp.neighbors.Neighbors.vectors`."""
    if pair_structure is None:  # one structure: one cell
        offset = shift @ cell[0]
    else:
        offset = torch.einsum("pa,pab->pb", shift, cell.index_select(0, pair_structure))
    return positions.index_select(0, j) - positions.index_select(0, i) + offset


class EAMFromPositions(torch.autograd.Function):
    """Per-atom EAM energies (N,) from positions and cells, with ∂E_i/∂r_p saved for backward.

    forward: r_p = |x_j - x_i + S·cell|, ρ_i = Σ_p f(r_p), E_i = F(ρ_i) + ½ Σ_p φ(r_p) and
    w_p = ∂E_i/∂r_p = F'(ρ_i) f'(r_p) + ½ φ'(r_p);
    backward: with g_p = (∂L/∂E_i) w_p r_p/|r_p| (the pair's force), ∂L/∂x_j += g_p,
    ∂L/∂x_i -= g_p and ∂L/∂cell += S_p ⊗ g_p (the virial; through it autograd finds the stress).

    Pairs are processed in chunks of :data:`PAIR_CHUNK`, so no temporary is as long as the pair
    list (on 10^7 pairs whole-list temporaries, each a fresh allocation, made it several times
    slower); sums run in the list's order. First derivatives only: for second derivatives
    (``create_graph=True``) use :func:`eam_energies`, which autograd differentiates to any order.
    """

    @staticmethod
    def forward(ctx, positions: Tensor, cell: Tensor, i: Tensor, j: Tensor, shift: Tensor,
                pair_structure: Tensor | None, t: Tensor, model: EAM) -> Tensor:
        n_el, n_atoms, n_pairs = len(model.species), t.shape[0], i.shape[0]
        dtype = torch.promote_types(model.rhor_spline.dtype, positions.dtype)  # the functions' dtype
        rho = torch.zeros(n_atoms, dtype=dtype, device=positions.device)  # (N,) density at each atom
        pair_energy = torch.zeros_like(rho)  # (N,) ½ Σ_j φ(r_ij)
        df = torch.empty(n_pairs, dtype=dtype, device=positions.device)  # (P,) f'(r)
        dphi = torch.empty_like(df)  # (P,) φ'(r)
        for lo in range(0, n_pairs, PAIR_CHUNK):
            part = slice(lo, lo + PAIR_CHUNK)
            i_, j_ = i[part], j[part]
            ps = None if pair_structure is None else pair_structure[part]
            r = _chunk_vectors(positions, cell, i_, j_, shift[part], ps).norm(dim=1)  # (p,)
            if n_el == 1:  # one element: every pair reads the same tables
                density_row = pair_row = None
            else:
                ti, tj = t.index_select(0, i_), t.index_select(0, j_)
                density_row, pair_row = tj * n_el + ti, ti * n_el + tj  # the density j puts at i; φ_ij
            f, df[part] = spline_value_and_derivative(model.rhor_spline, density_row, r, model.dr)
            rphi, drphi = spline_value_and_derivative(model.z2r_spline, pair_row, r, model.dr)
            phi = rphi / r
            dphi[part] = (drphi - phi) / r  # φ' from (rφ)'
            rho.index_add_(0, i_, f)
            pair_energy.index_add_(0, i_, 0.5 * phi)
        F, dF = model.embedding_and_derivative(rho, t)  # (N,), (N,)
        w = df  # (P,) w_p = F'(ρ_i) f'(r_p) + ½ φ'(r_p), in df's memory
        for lo in range(0, n_pairs, PAIR_CHUNK):
            part = slice(lo, lo + PAIR_CHUNK)
            w[part].mul_(dF.index_select(0, i[part])).add_(dphi[part], alpha=0.5)
        ctx.save_for_backward(positions, cell, i, j, shift, pair_structure, w)
        return F + pair_energy

    @staticmethod
    def backward(ctx, grad_energies: Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError("the EAM's fast forces give first derivatives only; for second derivatives "
                               "(create_graph=True) compute the energies with minnp.potentials.eam.eam_energies("
                               "batch, model.r_cut, model.numbers, model.embedding, model.density, model.pair)")
        positions, cell, i, j, shift, pair_structure, w = ctx.saved_tensors
        grad_energies = grad_energies.to(w.dtype)
        grad_positions = torch.zeros_like(positions)  # (N, 3)
        grad_cell = torch.zeros_like(cell)  # (B, 3, 3)
        for lo in range(0, i.shape[0], PAIR_CHUNK):
            part = slice(lo, lo + PAIR_CHUNK)
            i_, j_, shift_ = i[part], j[part], shift[part]
            ps = None if pair_structure is None else pair_structure[part]
            r_vec = _chunk_vectors(positions, cell, i_, j_, shift_, ps)  # (p, 3)
            g = r_vec * (grad_energies.index_select(0, i_) * w[part] / r_vec.norm(dim=1))[:, None]  # (p, 3)
            g = g.to(positions.dtype)
            grad_positions.index_add_(0, j_, g).index_add_(0, i_, -g)
            if ctx.needs_input_grad[1]:  # the virial Σ_p S_p ⊗ g_p of each structure
                if ps is None:
                    grad_cell[0] += shift_.T @ g
                else:
                    grad_cell.index_add_(0, ps, shift_[:, :, None] * g[:, None, :])
        return grad_positions, grad_cell, None, None, None, None, None, None


# --- the tabulated EAM --------------------------------------------------------------------------

class EAM(torch.nn.Module):
    """An EAM potential from tables, evaluated exactly as LAMMPS' ``pair_style eam/alloy`` and ``eam/fs``.

    ``EAM.from_file("Cu_u3.eam")`` gives -3.54000000 eV for fcc Cu at a = 3.615 Å, as LAMMPS does.
    ``frho`` (n_el, nrho) are F on ρ = 0, Δρ, ...; ``rhor`` the densities on r = 0, Δr, ...,
    (n_el, nr) with f_a(r) or, Finnis–Sinclair, (n_el, n_el, nr) with ``rhor[a, b]`` the
    density an atom of element a puts at an atom of element b; ``z2r`` (n_el, n_el, nr) the
    products r·φ; ``r_cut`` the cutoff and ``rho_max`` where F's linear extension starts
    (default: the last ρ node).
    """

    def __init__(self, species: Sequence[str], frho, rhor, z2r, drho: float, dr: float, r_cut: float,
                 rho_max: float | None = None, masses: Sequence[float] | None = None,
                 lattice_constants: Sequence[float] | None = None, lattices: Sequence[str] | None = None,
                 comment: str = ""):
        super().__init__()
        self.species = list(species)
        self.numbers = atomic_numbers(self.species)
        n_el = len(self.species)
        self.frho = np.asarray(frho, dtype=np.float64)
        self.rhor = np.asarray(rhor, dtype=np.float64)
        self.z2r = np.asarray(z2r, dtype=np.float64)
        rhor_fits = self.rhor.shape[:-1] in ((n_el,), (n_el, n_el)) and self.rhor.shape[-1] == self.z2r.shape[-1]
        if self.frho.ndim != 2 or self.frho.shape[0] != n_el or self.z2r.shape[:2] != (n_el, n_el) or not rhor_fits:
            raise ValueError(f"table shapes frho {self.frho.shape}, rhor {self.rhor.shape}, z2r {self.z2r.shape} "
                             f"do not fit {n_el} species: expected (n_el, nrho), (n_el, nr) or (n_el, n_el, nr), "
                             "and (n_el, n_el, nr)")
        for name in ("frho", "rhor", "z2r"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"table {name} holds non-finite values (nan or inf); "
                                 "every table value must be finite")
        self.drho, self.dr, self.r_cut = float(drho), float(dr), float(r_cut)
        self.nrho, self.nr = self.frho.shape[1], self.rhor.shape[-1]
        self.rho_max = float(rho_max) if rho_max is not None else (self.nrho - 1) * self.drho
        self.masses = list(masses) if masses is not None else [float(atomic_masses[z]) for z in self.numbers]
        self.lattice_constants = list(lattice_constants) if lattice_constants is not None else [0.0] * n_el
        self.lattices = list(lattices) if lattices is not None else ["fcc"] * n_el
        self.comment = comment
        rhor_spline = lammps_spline(self.rhor)  # (n_el, nr, 4) or (n_el, n_el, nr, 4)
        if not self.finnis_sinclair:  # f_a arrives the same at every element
            rhor_spline = np.repeat(rhor_spline[:, None], n_el, axis=1)
        self.register_buffer("frho_spline", torch.from_numpy(lammps_spline(self.frho)))  # (n_el, nrho, 4)
        self.register_buffer("rhor_spline", torch.from_numpy(  # (n_el * n_el, nr, 4), row a*n_el+b
            rhor_spline.reshape(n_el * n_el, self.nr, 4)))
        self.register_buffer("z2r_spline", torch.from_numpy(  # (n_el * n_el, nr, 4), row a*n_el+b
            lammps_spline(self.z2r).reshape(n_el * n_el, self.nr, 4)))

    @property
    def finnis_sinclair(self) -> bool:
        """Whether the density depends on the element it arrives at (``eam/fs`` tables)."""
        return self.rhor.ndim == 3

    # the three functions, for element indices t -------------------------------------------------

    def embedding(self, rho: Tensor, t: Tensor) -> Tensor:
        """F_t(ρ), continued linearly above ρ_max."""
        F = spline_value(self.frho_spline, t, rho, self.drho)
        beyond = rho > self.rho_max
        if beyond.any():
            slope = spline_slope(self.frho_spline, t, rho, self.drho)
            F = F + torch.where(beyond, slope * (rho - self.rho_max), torch.zeros_like(rho))
        return F

    def embedding_and_derivative(self, rho: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """F_t(ρ) and F'_t(ρ) as autograd differentiates :meth:`embedding`, without a graph."""
        F, dF = spline_value_and_derivative(self.frho_spline, t, rho, self.drho)
        beyond = rho > self.rho_max
        if beyond.any():
            slope = torch.where(beyond, spline_slope(self.frho_spline, t, rho, self.drho), torch.zeros_like(rho))
            F = F + slope * (rho - self.rho_max)
            dF = dF + slope
        return F, dF

    def density(self, r: Tensor, t: Tensor, t_site: Tensor | None = None) -> Tensor:
        """The density an atom of element t puts at distance r (at an atom of element ``t_site``).

        ``t_site`` matters only for Finnis–Sinclair tables; without it, f_t(r) = ρ_tt(r).
        """
        row = t * len(self.species) + (t if t_site is None else t_site)
        return spline_value(self.rhor_spline, row, r, self.dr)

    def pair(self, r: Tensor, ti: Tensor, tj: Tensor) -> Tensor:
        """φ(r) = (r·φ)(r) / r for elements ti, tj."""
        return spline_value(self.z2r_spline, ti * len(self.species) + tj, r, self.dr) / r

    def forward(self, batch: Batch) -> Tensor:
        # the numbers of eam_energies(batch, self.r_cut, self.numbers, self.embedding, self.density,
        # self.pair), with analytic pair forces (the module docstring's fast path)
        return eam_energies_fast(batch, self)

    # files ------------------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path) -> EAM:
        """Read a setfl (``.eam.alloy``), Finnis–Sinclair (``.eam.fs``) or one or several funcfl (``.eam``) files.

        Several funcfl files (a list of paths) make an alloy the way LAMMPS' ``pair_style eam``
        does with one ``pair_coeff`` per type: tables interpolated onto the largest spacing,
        r·φ_ab = 27.2·0.529·Z_a Z_b.
        """
        if isinstance(path, (list, tuple)):
            return cls(**eam_files.combine_funcfl([eam_files.read_funcfl(p) for p in path]))
        name = check_path(path, "EAM").name
        if name.endswith(".eam.fs"):
            return cls(**eam_files.read_setfl(path, finnis_sinclair=True))
        if name.endswith(".eam.alloy") or name.endswith(".setfl"):
            return cls(**eam_files.read_setfl(path))
        if name.endswith(".eam"):
            return cls(**eam_files.combine_funcfl([eam_files.read_funcfl(path)]))
        raise ValueError(f"cannot tell the format of {name!r}: EAM.from_file reads setfl files ending in "
                         "'.eam.alloy', Finnis-Sinclair files ending in '.eam.fs' and funcfl files ending in '.eam'; "
                         "rename the file to the ending of its format")

    def write_setfl(self, path, comment: str | None = None) -> None:
        """Write these tables as a setfl file, for LAMMPS' ``pair_style eam/alloy``.

        Values are written with 17 significant digits, so :meth:`from_file` reads back the same
        numbers. (A funcfl-born potential keeps its tables; only F's linear extension then starts
        at the last ρ node instead of one step beyond it.)
        """
        eam_files.write_setfl(self, path, comment)

    def write_fs(self, path, comment: str | None = None) -> None:
        """Write these tables as a Finnis–Sinclair file, for LAMMPS' ``pair_style eam/fs``."""
        eam_files.write_setfl(self, path, comment, finnis_sinclair=True)

    def write_funcfl(self, path, comment: str | None = None) -> None:
        """Write a one-element potential as a DYNAMO funcfl file, for LAMMPS' ``pair_style eam``
        (:func:`~minnp.potentials.eam_files.write_funcfl`: the effective charge Z(r) instead of r·φ)."""
        eam_files.write_funcfl(self, path, comment)

    def extra_repr(self) -> str:
        kind = ", finnis_sinclair=True" if self.finnis_sinclair else ""
        return f"species={self.species}, r_cut={self.r_cut}, nrho={self.nrho}, nr={self.nr}{kind}"
