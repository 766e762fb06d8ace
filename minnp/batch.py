"""Structures -> tensors: a batch of ASE ``Atoms`` of any sizes and compositions.

Notebook 00 introduces it; every energy module in the course reads a :class:`Batch`.

A batch of B structures with N atoms in total is stored flat, the way TorchANI and
torch_geometric do it, so that no structure is padded::

    positions  (N, 3)   Å, float
    numbers    (N,)     atomic numbers, long
    structure  (N,)     which structure each atom belongs to, 0..B-1, long
    cell       (B, 3, 3) lattice vectors as rows, Å
    pbc        (B, 3)   periodic along each lattice vector, bool
    n_atoms    (B,)     atoms per structure
    total_charge (B,)   net charge in e (``atoms.info["charge"]``, default 0)

Per-structure sums are ``index_add_`` over ``structure`` (:func:`sum_per_structure`); an atom's
cell is ``cell[structure]``.  Neighbour lists for a cutoff are computed once and cached on the
batch (:meth:`Batch.neighbors`). A copy made by :meth:`Batch.replace` shares that cache only
when its geometry (positions, cell, pbc, atoms) has the same values as the original, as the
requires-grad and zero-strain copies of ``minnp.compute`` do; a moved, strained or expanded
copy starts with an empty cache, so it can never report another geometry's pairs.

:func:`atoms_to_batch` refuses, with the fix in the message, what would give NaN or hang
downstream: no atoms, NaN positions, unknown elements, a singular or nearly dependent periodic
cell (a lattice vector under 0.1 Å), and two atoms (or an atom and an image) at one position.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers as _ase_numbers
from ase.data import chemical_symbols
from ase.geometry import complete_cell, minkowski_reduce

from minnp.neighbors import Neighbors, neighbor_list

Tensor = torch.Tensor

SAME_POSITION = 1e-4  # Å: two atoms (or an atom and an image) closer than this are one position
SHORTEST_PERIOD = 0.1  # Å: a periodic lattice vector shorter than this puts atoms on their own images


def device() -> torch.device:
    """CUDA when a GPU is present, else CPU. Every notebook picks its device with this."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def atomic_numbers(species: Sequence[str | int]) -> list[int]:
    """Element symbols or numbers -> atomic numbers, with a clear error for a typo.

    >>> atomic_numbers(["Si", "C", 8])
    [14, 6, 8]
    """
    numbers = []
    for s in species:
        if isinstance(s, (int, np.integer)):
            if not 1 <= int(s) < len(chemical_symbols):
                raise ValueError(f"unknown element: atomic number {s} (use 1..{len(chemical_symbols) - 1})")
            numbers.append(int(s))
        elif s in _ase_numbers and _ase_numbers[s] > 0:
            numbers.append(_ase_numbers[s])
        else:
            raise ValueError(f"unknown element symbol {s!r}; element symbols are case-sensitive, e.g. 'Si', 'Cu'")
    return numbers


def check_species(numbers: Tensor, species: Sequence[int], owner: str = "this model") -> None:
    """Raise a clear error when a structure holds an element ``owner`` was not made for."""
    present = torch.unique(numbers).tolist()
    missing = [z for z in present if z not in set(species)]
    if missing:
        names = [chemical_symbols[z] for z in missing]
        known = [chemical_symbols[z] for z in species]
        raise ValueError(
            f"species {', '.join(repr(n) for n in names)} not among {owner}'s species {known}"
        )


def species_index(numbers: Tensor, species: Sequence[int], owner: str = "this model") -> Tensor:
    """Each atom's index s = 0..S-1 into ``species`` (atomic numbers), (N,): the one Z -> s table.

    Per-element parameters and networks (EAM, Tersoff, descriptors, models) are stored in the
    order of ``species``; this maps every atom to its row, with a clear error for a stranger.
    """
    table = torch.full((len(chemical_symbols),), -1, dtype=torch.long, device=numbers.device)
    table[torch.as_tensor(list(species), dtype=torch.long, device=numbers.device)] = torch.arange(
        len(species), device=numbers.device)
    index = table[numbers]  # (N,), -1 for an element the model was not made for
    if bool((index < 0).any()):  # one pass over the atoms; the names only when something is wrong
        check_species(numbers, species, owner)
    return index


@dataclasses.dataclass
class Batch:
    """B structures as flat tensors (see the module docstring for shapes and units)."""

    positions: Tensor  # (N, 3)
    numbers: Tensor  # (N,)
    structure: Tensor  # (N,) which structure each atom belongs to, 0..B-1
    cell: Tensor  # (B, 3, 3)
    pbc: Tensor  # (B, 3)
    n_atoms: Tensor  # (B,)
    total_charge: Tensor  # (B,)
    _neighbors: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def n_structures(self) -> int:
        return int(self.cell.shape[0])

    @property
    def device(self) -> torch.device:
        return self.positions.device

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def ptr(self) -> Tensor:
        """Index of each structure's first atom, (B + 1,): atoms of s are ptr[s]:ptr[s+1]."""
        return torch.cat([self.n_atoms.new_zeros(1), torch.cumsum(self.n_atoms, 0)])

    def volume(self) -> Tensor:
        """Cell volumes, (B,), Å³ (0 for a structure without a full cell)."""
        return torch.linalg.det(self.cell).abs()

    def replace(self, **changes) -> "Batch":
        """A copy with some tensors replaced (e.g. positions that require grad).

        The copy shares the neighbour cache only when every replaced tensor has the same values
        (and device) as the original, so the cached pairs are still this geometry's pairs;
        otherwise it starts with an empty cache.
        """
        same = all(_same_values(value, getattr(self, name)) for name, value in changes.items())
        return dataclasses.replace(self, **changes, _neighbors=self._neighbors if same else {})

    def to(self, device=None, dtype=None) -> "Batch":
        """Move to a device and/or cast positions and cell to a float dtype."""
        fields = {}
        for f in dataclasses.fields(self):
            if f.name == "_neighbors":
                continue
            t = getattr(self, f.name)
            if t.is_floating_point() and dtype is not None:
                t = t.to(dtype=dtype)
            fields[f.name] = t.to(device) if device is not None else t
        return Batch(**fields)

    def neighbors(self, r_cut: float, periodic: bool = True) -> Neighbors:
        """Neighbour pairs within ``r_cut`` (cached per cutoff); see :mod:`minnp.neighbors`.

        ``periodic=False`` ignores every structure's cell and pbc (isolated clusters: no periodic
        images), as a descriptor made with ``periodic=False`` sees them.
        """
        isolated = not periodic and bool(self.pbc.any())
        key = (float(r_cut), isolated)
        if key not in self._neighbors:
            source = self
            if isolated:  # the same atoms without periodicity
                source = dataclasses.replace(self, pbc=torch.zeros_like(self.pbc), _neighbors={})
            self._neighbors[key] = neighbor_list(source, float(r_cut))
        return self._neighbors[key]

    def to_atoms(self) -> list[Atoms]:
        """Back to ASE, one ``Atoms`` per structure (positions, numbers, cell, pbc)."""
        out = []
        ptr = self.ptr.tolist()
        for s in range(self.n_structures):
            lo, hi = ptr[s], ptr[s + 1]
            out.append(
                Atoms(
                    numbers=self.numbers[lo:hi].cpu().numpy(),
                    positions=self.positions[lo:hi].detach().cpu().numpy(),
                    cell=self.cell[s].detach().cpu().numpy(),
                    pbc=self.pbc[s].cpu().numpy(),
                )
            )
        return out


def _same_values(new, old) -> bool:
    """True when ``new`` is ``old`` or a tensor with the same shape, device and values."""
    if new is old:
        return True
    if not (isinstance(new, Tensor) and isinstance(old, Tensor)):
        return False
    same_kind = new.shape == old.shape and new.device == old.device and new.dtype == old.dtype
    return same_kind and torch.equal(new.detach(), old.detach())


def _check_structure(atoms: Atoms, s: int) -> None:
    """The errors a learner meets first, named plainly with the fix."""
    where = f"structure {s}"
    if not isinstance(atoms, Atoms):
        raise TypeError(f"{where} is a {type(atoms).__name__}, expected an ase.Atoms")
    if len(atoms) == 0:
        raise ValueError(f"{where} has no atoms: remove empty structures before batching")
    bad = np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))
    if bad.size:
        raise ValueError(f"{where} has non-finite (NaN or inf) positions at atoms {bad[:10].tolist()}")
    z = atoms.numbers
    if (z < 1).any() or (z >= len(chemical_symbols)).any():
        i = int(np.flatnonzero((z < 1) | (z >= len(chemical_symbols)))[0])
        raise ValueError(f"{where}: atom {i} has unknown element (atomic number {z[i]}); give a real element")
    if not np.isfinite(atoms.cell.array).all():
        raise ValueError(f"{where} has a non-finite cell {atoms.cell.array.tolist()}")
    pbc = atoms.pbc
    if pbc.any():
        periodic_vectors = atoms.cell.array[pbc]
        if np.linalg.matrix_rank(periodic_vectors, tol=1e-8) < pbc.sum():
            volume = abs(np.linalg.det(atoms.cell.array))
            raise ValueError(
                f"{where}: cell is singular (volume {volume:.1f} Å³) but pbc={pbc.tolist()}; "
                "give the periodic directions independent lattice vectors (atoms.cell = ...) "
                "or switch periodicity off (atoms.pbc = False)"
            )
        _check_shortest_period(atoms, where)
    _check_no_coinciding_atoms(atoms, where)


def _check_shortest_period(atoms: Atoms, where: str) -> None:
    """A relative test of the cell: nearly dependent periodic vectors (b = a + 0.001 Å) pass the
    rank test but make a lattice vector (b - a) so short that every atom nearly sits on its own
    image, and a neighbour search would need r_cut / |b - a| images along it."""
    reduced, _ = minkowski_reduce(atoms.cell.array, pbc=atoms.pbc)  # shortest lattice vectors first
    lengths = np.linalg.norm(np.asarray(reduced)[atoms.pbc], axis=1)
    shortest = float(lengths.min())
    if shortest < SHORTEST_PERIOD:
        raise ValueError(
            f"{where}: the periodic cell {np.round(atoms.cell.array, 6).tolist()} has a lattice vector only "
            f"{shortest:.3g} Å long (its vectors are nearly dependent), so every atom sits {shortest:.3g} Å "
            f"from its own periodic image and a neighbour search with a 5 Å cutoff would need about "
            f"{5.0 / max(shortest, 1e-300):.3g} images along it; give independent cell vectors "
            f"(atoms.cell = ...) or switch periodicity off (atoms.pbc = False)")


SWEEP_DIRECTION = np.array([1.0, np.sqrt(2.0), np.sqrt(3.0)]) / np.sqrt(6.0)  # no lattice plane ⟂ to it


def _check_no_coinciding_atoms(atoms: Atoms, where: str) -> None:
    """Two atoms (or an atom and another's periodic image) at the same position make every
    potential and descriptor NaN or meaningless: one clear error instead, by a sweep along a line.

    Two points closer than δ = SAME_POSITION are also closer than δ along any unit direction u.
    So sort the points by u·r: a close pair is then a run of sorted neighbours whose projections
    step by less than δ, and only those few pairs need a real distance (u is irrational against
    every lattice, so no crystal plane projects onto one point). Periodic axes: the fractional
    coordinates are wrapped into the cell, and the atoms within δ of an upper face enter again as
    images one lattice vector down (at edges and corners every combination), so a pair that
    straddles a face is close in Cartesian space too.
    """
    n = len(atoms)
    if n < 2:
        return
    pbc = atoms.pbc
    cell = complete_cell(atoms.cell.array)  # a zero vector of a non-periodic axis made orthogonal
    inverse = np.linalg.inv(cell)  # (3, 3) columns: reciprocal vectors b_a with |b_a| = 1 / h_a
    heights = 1.0 / np.linalg.norm(inverse, axis=0)  # (3,) Å: the cell's thickness across face a
    fractional = atoms.positions @ inverse  # (n, 3)
    if pbc.any():
        wrapped = fractional[:, pbc] % 1.0
        fractional[:, pbc] = np.where(wrapped >= 1.0, 0.0, wrapped)  # x % 1.0 can round up to 1.0
    points, owner = fractional, np.arange(n)  # (n', 3) and each point's atom
    for a in np.flatnonzero(pbc):
        upper = np.flatnonzero((1.0 - points[:, a]) * heights[a] < SAME_POSITION)  # within δ of face a
        if len(upper):
            image = points[upper].copy()
            image[:, a] -= 1.0
            points, owner = np.concatenate([points, image]), np.concatenate([owner, owner[upper]])
    r = points @ cell  # (n', 3) Å
    order = np.argsort(r @ SWEEP_DIRECTION)
    sweep = (r @ SWEEP_DIRECTION)[order]  # (n',) sorted projections
    for step in range(1, len(order)):  # pairs `step` apart in the sorted order, while any is close
        close = np.flatnonzero(sweep[step:] - sweep[:-step] < SAME_POSITION)
        if not len(close):
            return
        first, second = order[close], order[close + step]
        near = np.linalg.norm(r[second] - r[first], axis=1) < SAME_POSITION
        near &= owner[first] != owner[second]  # (an atom and its own image are ≥ SHORTEST_PERIOD apart)
        if near.any():
            k = int(np.argmax(near))
            _coinciding_atoms_error(atoms, *sorted((int(owner[first[k]]), int(owner[second[k]]))), where)


def _coinciding_atoms_error(atoms: Atoms, i: int, j: int, where: str) -> None:
    symbols = atoms.get_chemical_symbols()
    raise ValueError(
        f"{where}: atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are at the same position "
        f"{np.round(atoms.positions[i], 4).tolist()} (closer than {SAME_POSITION:g} Å"
        f"{', counting periodic images' if atoms.pbc.any() else ''}): energies and descriptors would "
        "be NaN or meaningless; remove the duplicate, e.g. "
        "ase.geometry.get_duplicate_atoms(atoms, cutoff=0.01, delete=True)")


def atoms_to_batch(
    structures: Atoms | Sequence[Atoms],
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Batch:
    """Stack ASE structures of any sizes into one flat :class:`Batch`.

    >>> from ase.build import bulk, molecule
    >>> b = atoms_to_batch([bulk("Si", cubic=True), molecule("H2O")])
    >>> b.positions.shape, b.structure.tolist()
    (torch.Size([11, 3]), [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    """
    if isinstance(structures, Atoms):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise ValueError("no structures given: pass an ase.Atoms or a non-empty list of them")
    for s, atoms in enumerate(structures):
        _check_structure(atoms, s)
    n_atoms = [len(a) for a in structures]
    positions = np.concatenate([a.positions for a in structures])
    numbers = np.concatenate([a.numbers for a in structures])
    cell = np.stack([a.cell.array for a in structures])
    pbc = np.stack([a.pbc for a in structures])
    charge = [float(a.info.get("charge", 0.0)) for a in structures]
    kw = dict(device=device)
    return Batch(
        positions=torch.tensor(positions, dtype=dtype, **kw),
        numbers=torch.tensor(numbers, dtype=torch.long, **kw),
        structure=torch.repeat_interleave(torch.arange(len(structures), **kw), torch.tensor(n_atoms, **kw)),
        cell=torch.tensor(cell, dtype=dtype, **kw),
        pbc=torch.tensor(pbc, dtype=torch.bool, **kw),
        n_atoms=torch.tensor(n_atoms, dtype=torch.long, **kw),
        total_charge=torch.tensor(charge, dtype=dtype, **kw),
    )


def sum_per_structure(values: Tensor, batch: Batch) -> Tensor:
    """Sum per-atom values (N, ...) into per-structure values (B, ...)."""
    out = values.new_zeros((batch.n_structures,) + tuple(values.shape[1:]))
    return out.index_add_(0, batch.structure, values)
