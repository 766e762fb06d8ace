"""What every descriptor shares: species, periodicity, DScribe's ``create`` and the torch path.

Notebook 04 (ACSF) and notebook 05 (SOAP) use it; models (notebooks 06-07) call ``forward``.

A descriptor turns each atom's neighbourhood into a feature vector. In minnp it has two faces
and ONE implementation behind them:

    forward(batch)                  -> Tensor (N, F)   per-atom features of a whole Batch:
                                       differentiable in positions and cell, CPU or GPU.
                                       Models call this; forces come from autograd.
    create(system_or_list, centers) -> NumPy, shaped exactly like DScribe's ``create`` output
                                       (same feature layout), for checking against DScribe and
                                       for users who know it.

How a descriptor plugs in (ACSF and SOAP both do this)::

    class MyDescriptor(Descriptor):
        def __init__(self, species, ..., periodic=False):
            super().__init__(species, periodic)   # sorted atomic numbers, lookup table
            self.cutoff = ...                     # neighbour-list cutoff in Å
        def features(self, batch, nbrs):          # the maths: (N, F) from a neighbour list
            s = self.species_index(batch)         # (N,) species index 0..S-1, checked
            r_ij = nbrs.vectors(batch)            # (P, 3) differentiable
            ...
        def get_number_of_features(self): ...
        def feature_names(self): ...              # one readable name per column

``forward`` and ``create`` both call ``features``; they differ only in which periodic images
are in the neighbour list (next paragraph).

Species: unique atomic numbers sorted ascending, index s = 0..S-1 (DScribe's order). A
structure holding any other element raises "species 'O' not among this descriptor's species".

Periodicity (DScribe's meaning): ``periodic=False`` ignores the cell and pbc of every structure
(an isolated cluster); ``periodic=True`` uses each structure's own pbc, axis by axis.

Periodic images. ``forward`` uses every image within the cutoff (vesin), which is right for any
positions, wrapped or not. DScribe instead copies the cell m_a = ceil(cutoff / h_a) times on each
side along each periodic axis a (h_a: the cell's height perpendicular to the other two vectors,
after ``ase.geometry.complete_cell``) around the positions as given, without wrapping them. For
atoms inside the cell that block holds every image within the cutoff, so the two lists are the
same; an atom far outside the cell loses images in DScribe. ``create`` reproduces DScribe exactly
by dropping the pairs whose image shift lies outside that block (:func:`dscribe_images`);
``atoms.wrap()`` first makes ``create`` and ``forward`` agree for any structure.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols
from ase.geometry import complete_cell

from minnp.batch import Batch, atomic_numbers, atoms_to_batch, check_species
from minnp.neighbors import Neighbors, neighbor_list

Tensor = torch.Tensor


class Descriptor(torch.nn.Module):
    """Base of ACSF and SOAP: species handling, periodicity, ``forward`` and ``create``."""

    cutoff: float  # neighbour-list cutoff in Å, set by the subclass

    def __init__(self, species: Sequence[str | int], periodic: bool = False):
        super().__init__()
        if species is None or isinstance(species, (str, int)) or len(species) == 0:
            raise ValueError(f"species must be a non-empty list of elements, e.g. ['Si', 'O'], "
                             f"got {species!r}")
        self.species = sorted(set(atomic_numbers(species)))  # atomic numbers, ascending
        self.periodic = bool(periodic)
        lookup = torch.full((len(chemical_symbols),), -1, dtype=torch.long)  # Z -> s
        lookup[self.species] = torch.arange(len(self.species))
        self.register_buffer("_species_lookup", lookup, persistent=False)

    @property
    def n_species(self) -> int:
        return len(self.species)

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    def species_index(self, batch: Batch) -> Tensor:
        """Each atom's species index s = 0..S-1, (N,); a clear error for an unknown element."""
        check_species(batch.numbers, self.species, owner="this descriptor")
        return self._species_lookup[batch.numbers]

    # ---- the torch path -------------------------------------------------------------------

    def features(self, batch: Batch, nbrs: Neighbors) -> Tensor:
        """Per-atom features (N, F) from a neighbour list: the subclass's maths."""
        raise NotImplementedError

    def get_number_of_features(self) -> int:
        raise NotImplementedError

    def feature_names(self) -> list[str]:
        raise NotImplementedError

    def neighbors(self, batch: Batch) -> Neighbors:
        """The neighbour list this descriptor sees: cached on the batch, pbc off if not periodic."""
        if self.periodic or not bool(batch.pbc.any()):
            return batch.neighbors(self.cutoff)
        # periodic=False ignores the cell: a pbc-free list, cached under its own key
        key = ("periodic=False", float(self.cutoff))
        if key not in batch._neighbors:
            isolated = Batch(**{**vars(batch), "pbc": torch.zeros_like(batch.pbc), "_neighbors": {}})
            batch._neighbors[key] = neighbor_list(isolated, self.cutoff)
        return batch._neighbors[key]

    def forward(self, batch: Batch) -> Tensor:
        """Per-atom features (N, F) for every atom of every structure in the batch."""
        return self.features(batch, self.neighbors(batch))

    # ---- the DScribe face -----------------------------------------------------------------

    def create(self, system: Atoms | Sequence[Atoms], centers=None) -> np.ndarray | list[np.ndarray]:
        """DScribe's ``create``: features of the ``centers`` (atom indices; default all atoms).

        One ``Atoms`` -> array (n_centers, F). A list -> array (n_systems, n_centers, F) when
        every system has the same number of centres, else a list of (n_centers, F) arrays;
        ``centers`` is then one list of indices per system. Same layout as DScribe 2.1.x.
        """
        single, systems, per_system = systems_and_centers(system, centers)
        batch = atoms_to_batch(systems, device=self._species_lookup.device, dtype=torch.float64)
        nbrs = dscribe_images(batch, self.neighbors(batch), self.cutoff)
        with torch.no_grad():
            x = self.features(batch, nbrs).cpu().numpy()  # (N, F)
        out = []
        ptr = batch.ptr.tolist()
        for s, c in enumerate(per_system):
            rows = x[ptr[s]:ptr[s + 1]]
            out.append(rows if c is None else rows[check_centers(c, len(rows), s)])
        return dscribe_output(out, single)

    def extra_repr(self) -> str:
        return f"species={self.species_symbols}, cutoff={self.cutoff}, periodic={self.periodic}"


def systems_and_centers(system: Atoms | Sequence[Atoms], centers) -> tuple[bool, list[Atoms], list]:
    """DScribe's ``create`` arguments -> (one system given?, the systems, centres per system)."""
    single = isinstance(system, Atoms)
    systems = [system] if single else list(system)
    if single:
        per_system = [centers]
    else:
        per_system = list(centers) if centers is not None else [None] * len(systems)
    if len(per_system) != len(systems):
        raise ValueError(f"centers has {len(per_system)} entries for {len(systems)} systems: "
                         "give one list per system")
    return single, systems, per_system


def dscribe_output(out: list[np.ndarray], single: bool) -> np.ndarray | list[np.ndarray]:
    """DScribe's output shape: one array for one system; a list of systems stacked when every
    system has as many centres, else left as a list."""
    if single:
        return out[0]
    return np.stack(out) if all(len(o) == len(out[0]) for o in out) else out


def dscribe_images(batch: Batch, nbrs: Neighbors, cutoff: float) -> Neighbors:
    """Keep only the pairs whose image shift lies in DScribe's block of periodic copies.

    DScribe copies each structure m_a = ceil(cutoff / h_a) times on each side along each
    periodic axis a, with h_a = V / |b × c| the height of the (completed) cell across axis a,
    and looks for neighbours among those copies of the unwrapped positions. For atoms inside
    the cell nothing is dropped.
    """
    limits = []
    for cell, pbc in zip(batch.cell.detach().cpu().numpy(), batch.pbc.cpu().numpy()):
        cell = complete_cell(cell)
        volume = abs(np.linalg.det(cell))
        m = np.zeros(3)
        for a in range(3):
            if pbc[a]:
                height = volume / np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3]))
                m[a] = math.ceil(cutoff / height)
        limits.append(m)
    limit = torch.as_tensor(np.array(limits), dtype=nbrs.shift.dtype, device=nbrs.shift.device)  # (B, 3)
    keep = (nbrs.shift.abs() <= limit[batch.batch[nbrs.i]]).all(dim=1)  # (P,)
    if bool(keep.all()):
        return nbrs
    return Neighbors(i=nbrs.i[keep], j=nbrs.j[keep], shift=nbrs.shift[keep], r_cut=nbrs.r_cut)


def check_centers(centers, n_atoms: int, s: int) -> np.ndarray:
    """Validate DScribe-style centre indices for system ``s``."""
    c = np.asarray(centers)
    if c.ndim != 1 or (c.size and not np.issubdtype(c.dtype, np.integer)):
        raise ValueError(f"centers of system {s} must be a list of atom indices, got {centers!r}")
    if c.size and (c.min() < -n_atoms or c.max() >= n_atoms):
        raise ValueError(f"centers of system {s} has an index outside 0..{n_atoms - 1}: {c.tolist()}")
    return c
