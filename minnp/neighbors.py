"""Neighbour pairs (i, j, S) and triples, with differentiable distance vectors.

Notebook 03 motivates local environments; every potential and descriptor uses this module.

A neighbour of atom i is any atom j, or a periodic image of j, closer than the cutoff:

    r_ij = x_j - x_i + S_ij · cell          S_ij ∈ Z³, |r_ij| < r_cut

The *indices* (i, j, S) come from vesin, a well-kept C++ cell-list library (the same pairs
as ASE's ``neighbor_list``, ~30x faster), computed without gradients. The *vectors* r_ij
are recomputed here in torch from positions and cell, so autograd gives forces (dE/dx)
and, through a strained cell, the stress. Triclinic cells, mixed periodicity, cells
smaller than twice the cutoff (several images of one atom) and isolated molecules
(``pbc=False``, any cell) are all ordinary cases.

The list is *full*: both (i, j) and (j, i) appear, sorted by centre i. Angular terms
(ACSF G4/G5, Tersoff's bond order) need pairs of neighbours of one centre;
:func:`neighbor_triples` enumerates them without a Python loop over atoms, the way
TorchANI does: group the pairs by centre, then pair each pair with its group.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch
import vesin
from ase.geometry import complete_cell

if TYPE_CHECKING:  # batch.py imports this module; the type is only named here
    from minnp.batch import Batch

Tensor = torch.Tensor

MAX_IMAGES = 100_000  # periodic images of a cell one search may visit (a 1 Å cell at r_cut 10 Å: 9261)


@dataclasses.dataclass
class Neighbors:
    """A full neighbour list for a batch: pairs sorted by centre ``i``."""

    i: Tensor  # (P,) centre atom, index into the batch's atoms
    j: Tensor  # (P,) neighbour atom
    shift: Tensor  # (P, 3) integer image shift S, stored in the positions' float dtype
    r_cut: float

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def vectors(self, batch: Batch) -> Tensor:
        """r_ij = x_j - x_i + S·cell, (P, 3): differentiable in positions and cell."""
        if batch.n_structures == 1:  # one cell for every pair: a plain matrix product
            offset = self.shift @ batch.cell[0]  # (P, 3)
        else:
            cell = batch.cell[batch.structure[self.i]]  # (P, 3, 3), each pair's own cell
            offset = torch.einsum("pa,pab->pb", self.shift, cell)  # (P, 3)
        # index_select, not positions[j]: the same numbers, and 2-3x faster forward and backward
        return batch.positions.index_select(0, self.j) - batch.positions.index_select(0, self.i) + offset


def neighbor_list(batch: Batch, r_cut: float) -> Neighbors:
    """All pairs closer than ``r_cut`` in every structure of ``batch`` (no self pair at S = 0)."""
    if not r_cut > 0:
        raise ValueError(f"cutoff must be positive, got r_cut={r_cut}")
    calculator = vesin.NeighborList(cutoff=float(r_cut), full_list=True)
    positions = batch.positions.detach().cpu().numpy()
    cells = batch.cell.detach().cpu().numpy()
    pbcs = batch.pbc.cpu().numpy()
    ptr = batch.ptr.tolist()
    i_all, j_all, s_all = [], [], []
    for s in range(batch.n_structures):
        if pbcs[s].any():
            _check_images(cells[s], pbcs[s], r_cut, s)
        lo, hi = ptr[s], ptr[s + 1]
        i, j, shift = calculator.compute(positions[lo:hi], cells[s], pbcs[s], "ijS")
        i_all.append(i.astype(np.int64) + lo)
        j_all.append(j.astype(np.int64) + lo)
        s_all.append(shift)
    i, j, shift = ((parts[0] if len(parts) == 1 else np.concatenate(parts)) for parts in (i_all, j_all, s_all))
    shift = shift.reshape(-1, 3)
    i, j, order = sort_pairs(i, j, ptr[-1])  # by centre, then neighbour: reproducible sums
    device = batch.device
    shift = torch.from_numpy(shift).index_select(0, torch.from_numpy(order))  # (P, 3) in that order
    return Neighbors(
        i=torch.as_tensor(i, device=device),
        j=torch.as_tensor(j, device=device),
        shift=shift.to(dtype=batch.dtype, device=device),
        r_cut=float(r_cut),
    )


def sort_pairs(i: np.ndarray, j: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs sorted by centre i, then neighbour j, ties (images of one j) kept in their order:
    (i, j) sorted and the permutation, ``order = np.lexsort((j, i))``.

    The same order, about 4x faster on large lists: the keys (i, j, place), packed into the bits
    of one int64, are all different, so a plain (SIMD) ``np.sort`` of them is stable, and each
    sorted key still holds its pair and its place. Lists too large for int64 keys fall back to
    ``np.lexsort``.
    """
    n_pairs = len(i)
    atom_bits, place_bits = max(n_atoms - 1, 1).bit_length(), max(n_pairs - 1, 1).bit_length()
    if 2 * atom_bits + place_bits > 63:
        order = np.lexsort((j, i))
        return i[order], j[order], order
    # (P,) int64 keys, bit fields i | j | place (in place where possible: on 10^7 pairs every
    # fresh array costs more than the arithmetic)
    key = np.left_shift(j, place_bits)
    key |= np.arange(n_pairs, dtype=np.int64)
    key |= np.left_shift(i, atom_bits + place_bits)
    key.sort()
    order = key & ((1 << place_bits) - 1)
    key >>= place_bits
    i = key >> atom_bits
    key &= (1 << atom_bits) - 1
    return i, key, order


def _check_images(cell: np.ndarray, pbc: np.ndarray, r_cut: float, s: int) -> None:
    """Refuse a search that would visit more than MAX_IMAGES periodic images of the cell (it would
    run for minutes): along axis a it takes ceil(r_cut / h_a) images on each side, h_a the cell's
    height across the other two vectors."""
    cell = complete_cell(cell)
    volume = abs(np.linalg.det(cell))
    areas = [np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3])) for a in range(3)]
    heights = volume / np.array(areas)  # (3,) Å
    per_axis = np.where(pbc, 2 * np.ceil(r_cut / np.maximum(heights, 1e-300)) + 1, 1)
    if per_axis.prod() > MAX_IMAGES:
        a = int(np.argmin(np.where(pbc, heights, np.inf)))
        raise ValueError(
            f"structure {s}: the periodic cell is only {heights[a]:.3g} Å thick across lattice vector "
            f"{a}, so a cutoff of {r_cut:g} Å would need {per_axis.prod():.3g} periodic images of it "
            f"(more than {MAX_IMAGES}); check the cell vectors, use a larger cell (atoms.repeat) or a "
            "smaller cutoff")


def neighbor_triples(nbrs: Neighbors | Tensor, n_atoms: int,
                     unordered: bool = False) -> tuple[Tensor, Tensor]:
    """Pairs (p, q) of neighbour pairs that share a centre: the triples j-i-k.

    ``nbrs``: a neighbour list, or just its centres ``i`` (P,), sorted (a run of the list).
    Returns two index tensors into the pair list, shape (T,) each: pair p = (i, j) and pair
    q = (i, k) describe the triple j-i-k with angle θ_jik at the centre i. By default every
    ordered combination p ≠ q (Tersoff's ζ_ij = Σ_{k≠j}); ``unordered=True`` gives each
    triangle once, p < q (DScribe's G4/G5 sum over j < k), in the same order, made directly.
    """
    centre = nbrs.i if isinstance(nbrs, Neighbors) else nbrs  # (P,)
    counts = torch.bincount(centre, minlength=n_atoms)  # (n_atoms,) pairs per centre
    start = torch.cumsum(counts, 0) - counts  # (n_atoms,) first pair of each centre
    pair = torch.arange(len(centre), device=centre.device)  # (P,)
    if unordered:  # pair p, at place k of its centre's group of c pairs, meets the c - 1 - k after it
        after = counts[centre] - 1 - (pair - start[centre])  # (P,)
        p = torch.repeat_interleave(pair, after)  # (T,)
        first = torch.cumsum(after, 0) - after  # (P,) where each p's run begins
        q = torch.arange(len(p), device=p.device) - first.index_select(0, p) + p + 1  # (T,)
        return p, q
    per_pair = counts[centre]  # (P,) size of each pair's group
    p = torch.repeat_interleave(pair, per_pair)  # (Σc²,)
    group_start = torch.repeat_interleave(torch.cumsum(per_pair, 0) - per_pair, per_pair)
    q = start[centre[p]] + torch.arange(p.shape[0], device=p.device) - group_start
    keep = p != q
    return p[keep], q[keep]
