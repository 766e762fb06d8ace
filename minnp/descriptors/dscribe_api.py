"""DScribe's face of minnp's descriptors: ``create`` and ``derivatives`` with DScribe's arguments.

Notebooks 04 (ACSF) and 05 (SOAP) check minnp against DScribe 2.1.x live through these methods;
the maths they call lives in :mod:`~minnp.descriptors.acsf` and :mod:`~minnp.descriptors.soap`.
Nothing here computes a feature: it turns DScribe's arguments (systems, ``centers``,
``include``/``exclude``, ``attach``) into a batch and a neighbour list, calls the descriptor's
torch path, and lays the result out the way DScribe does:

    create(system)          (n_centers, F)           one ase.Atoms
    create([systems])       (n_systems, n_centers, F), or a list when the centre counts differ
    derivatives(system)     (n_centers, n_included_atoms, 3, F) and the features (n_centers, F)

derivatives come from the pair Jacobian J_p = ∂G_{i_p}/∂r_p (:meth:`Descriptor.pair_jacobian`)
put on the atoms by :func:`~minnp.descriptors.base.jacobian_on_atoms`.

Periodic images. ``forward`` uses every image within the cutoff (vesin), which is right for any
positions, wrapped or not. DScribe instead copies the cell m_a = ceil(cutoff / h_a) times on each
side along each periodic axis a (h_a: the cell's height perpendicular to the other two vectors,
after ``ase.geometry.complete_cell``) around the positions as given, without wrapping them. For
atoms inside the cell that block holds every image within the cutoff, so the two lists are the
same; an atom far outside the cell loses images in DScribe. ``create`` reproduces DScribe exactly
by dropping the pairs whose image shift lies outside that block (:func:`dscribe_images`);
``atoms.wrap()`` first makes ``create`` and ``forward`` agree for any structure. As in DScribe,
``periodic=False`` ignores the cell here (``forward`` refuses periodic structures instead).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.geometry import complete_cell

from minnp.batch import Batch, atoms_to_batch
from minnp.descriptors.base import jacobian_on_atoms
from minnp.descriptors.environments import Environments, atom_environments, concatenate
from minnp.neighbors import Neighbors, neighbor_list

Tensor = torch.Tensor


class DScribeSurface:
    """``create`` and ``derivatives`` of an atom-centred :class:`Descriptor` (ACSF), DScribe-shaped."""

    def create(self, system: Atoms | Sequence[Atoms], centers=None) -> np.ndarray | list[np.ndarray]:
        """DScribe's ``create``: features of the ``centers`` (atom indices; default all atoms).

        One ``Atoms`` -> array (n_centers, F). A list -> array (n_systems, n_centers, F) when
        every system has the same number of centres, else a list of (n_centers, F) arrays;
        ``centers`` is then one list of indices per system. Same layout as DScribe 2.1.x.
        """
        single, systems, per_system = systems_and_centers(system, centers)
        batch = atoms_to_batch(systems, device=self.device, dtype=torch.float64)
        with torch.no_grad():
            x = self.features(batch, self.dscribe_neighbors(batch)).cpu().numpy()  # (N, F)
        out = []
        ptr = batch.ptr.tolist()
        for s, c in enumerate(per_system):
            rows = x[ptr[s]:ptr[s + 1]]
            out.append(rows if c is None else rows[check_centers(c, len(rows), s)])
        return dscribe_output(out, single)

    def derivatives(self, system: Atoms | Sequence[Atoms], centers=None, include=None, exclude=None,
                    return_descriptor: bool = True, attach: bool = True):
        """dG/dx like DScribe's ``derivatives(..., attach=True)``: array (n_centers, n_atoms, 3, F).

        Models never need this (autograd through ``forward`` gives forces); it is the full
        Jacobian for users of DScribe's API, exact, from :meth:`pair_jacobian`. Periodic images
        move with their atom. ``include`` / ``exclude``: the atoms differentiated by (default
        all). A list of systems gives one array per system, stacked when the shapes agree.
        Returns (derivatives, descriptor) when ``return_descriptor`` (DScribe's default).
        """
        if not attach:
            raise ValueError(f"{type(self).__name__} derivatives need attach=True: every centre is an atom "
                             "and moves with it (DScribe raises for attach=False too); pass attach=True")
        return derivatives_of_systems(self, system, centers, include, exclude, return_descriptor, attach)

    def dscribe_neighbors(self, batch: Batch) -> Neighbors:
        """The pairs DScribe sees: its block of periodic images, the cell ignored if not periodic."""
        return dscribe_images(batch, batch.neighbors(self.cutoff, periodic=self.periodic), self.cutoff)

    def system_derivatives(self, batch: Batch, centers, attach: bool) -> tuple[Tensor, Tensor]:
        """One structure: ∂G/∂x (n_centers, n_atoms, 3, F) and G (n_centers, F)."""
        n = int(batch.n_atoms[0])
        G, nbrs, J = self.pair_jacobian(batch, self.dscribe_neighbors(batch))
        d = jacobian_on_atoms(J, nbrs.i, nbrs.j, nbrs.i, n, n)  # (n, n, 3, F)
        if centers is None:
            return d, G
        rows = check_centers(centers, n, 0) % max(n, 1)
        if _every_row_in_order(rows, n):  # d[rows] would copy all of d for nothing
            return d, G
        rows = torch.as_tensor(rows, device=d.device)
        return d[rows], G[rows]


class SOAPSurface(DScribeSurface):
    """SOAP's ``create`` and ``derivatives``: centres may be points, and averaging gives one row."""

    def create(self, system: Atoms | Sequence[Atoms], centers=None) -> np.ndarray | list:
        """DScribe's ``SOAP.create``: same arguments, shapes and numbers.

        ``centers``: atom indices and/or Cartesian points [x, y, z] (one list per system for a
        list of systems). One system -> (n_centers, F), or (F,) when averaging; a list ->
        stacked when every system has as many centres (or when averaging), else a list.
        """
        single, systems, per_system = systems_and_centers(system, centers)
        batch = atoms_to_batch(systems, device=self.device, dtype=torch.float64)
        with torch.no_grad():
            env, rows = self.dscribe_environments(batch, per_system, attach=True)
            x = self.soap(env, batch.n_structures).cpu().numpy()
        if self.average != "off":
            return x[0] if single else x
        return dscribe_output([x[r] for r in rows], single)

    def derivatives(self, system: Atoms | Sequence[Atoms], centers=None, include=None, exclude=None,
                    return_descriptor: bool = True, attach: bool = False):
        """DScribe's ``SOAP.derivatives``: d features / d atom positions, exact.

        Per system (n_centers, n_included_atoms, 3, F) — (1, n_included, 3, F) when averaging —
        and, with ``return_descriptor``, the features (n_centers, F) too. ``attach=True``: a
        centre given as an atom index moves with its atom; ``False`` (DScribe's default): it
        stays put while the atom moves. Always exact (:meth:`environment_jacobian`).
        """
        return derivatives_of_systems(self, system, centers, include, exclude, return_descriptor, attach)

    def system_derivatives(self, batch: Batch, centers, attach: bool) -> tuple[Tensor, Tensor]:
        """One structure: ∂p/∂x (n_centers, n_atoms, 3, F) and p (n_centers, F); one row if averaged."""
        env, rows = self.dscribe_environments(batch, [centers], attach=attach)
        averaged = self.average != "off"
        out_row = env.structure if averaged else torch.arange(env.n_centres, device=batch.device)  # (C,)
        jacobian = self.environment_jacobian(env, 1)  # (P, F, 3)
        d = jacobian_on_atoms(jacobian, out_row[env.centre], env.neighbour, env.centre_atom[env.centre],
                              1 if averaged else env.n_centres, int(batch.n_atoms[0]))
        x = self.soap(env, 1)
        if averaged or _every_row_in_order(rows[0], env.n_centres):  # d[rows] would copy all of d
            return d, x
        rows = torch.as_tensor(rows[0], dtype=torch.long, device=batch.device)
        return d[rows], x[rows]

    def dscribe_environments(self, batch: Batch, per_system: list,
                             attach: bool) -> tuple[Environments, list]:
        """DScribe's ``centers`` (None, atom indices and/or points, per system) as environments.

        Returns the environments and, per system, the rows of its centres in their output.
        ``attach=False`` turns atom-index centres into fixed points at the atoms' positions.
        """
        nbrs = self.dscribe_neighbors(batch)
        if attach and all(centres is None for centres in per_system):  # every atom, in order
            ptr = batch.ptr.tolist()
            rows = [np.arange(a, b) for a, b in zip(ptr, ptr[1:])]
            return atom_environments(batch, nbrs, self.species_index(batch)), rows
        ptr = batch.ptr.tolist()
        positions = batch.positions.detach().cpu().numpy()
        atoms, points, owner, rows = [], [], [], []  # rows: per system, its centres' rows (points: negative)
        for s, centres in enumerate(per_system):
            n = ptr[s + 1] - ptr[s]
            if centres is None:
                centres = np.arange(n)
            is_point = np.array([np.ndim(c) > 0 for c in centres], dtype=bool)
            index = np.array([c for c, p in zip(centres, is_point) if not p], dtype=int)
            index = check_centers(index, n, s) % max(n, 1)
            xyz = [np.asarray(c, dtype=float) for c, p in zip(centres, is_point) if p]
            if any(p.shape != (3,) for p in xyz):
                raise ValueError(f"centers of system {s}: give atom indices or points [x, y, z], "
                                 f"got {centres!r}")
            if not attach:  # atom-index centres become fixed points at their atoms, in the given order
                at_atoms, given = iter(positions[ptr[s] + index]), iter(xyz)
                xyz = [next(given) if p else next(at_atoms) for p in is_point]
                index, is_point = index[:0], np.ones_like(is_point)
            row = np.empty(len(is_point), dtype=int)
            row[~is_point] = np.arange(len(atoms), len(atoms) + len(index))
            row[is_point] = -1 - np.arange(len(points), len(points) + len(xyz))
            atoms.extend((ptr[s] + index).tolist())
            points.extend(xyz)
            owner.extend([s] * len(xyz))
            rows.append(row)
        device = batch.device
        centres = torch.tensor(atoms, dtype=torch.long, device=device)
        envs = [atom_environments(batch, nbrs, self.species_index(batch), centres)]
        if points:
            xyz = torch.tensor(np.array(points), dtype=batch.dtype, device=device)
            owner = torch.tensor(owner, dtype=torch.long, device=device)
            envs.append(self.point_environments(batch, xyz, owner))
        rows = [np.where(row >= 0, row, len(atoms) - 1 - row) for row in rows]  # points after the atoms
        return concatenate(envs), rows

    def point_environments(self, batch: Batch, points: Tensor, structure: Tensor) -> Environments:
        """Environments centred on fixed points (C, 3) in Å; ``structure`` (C,) says whose.

        The points join their structure as extra "atoms" for the neighbour search (with
        DScribe's block of periodic images); an atom exactly on a point is a neighbour at r = 0.
        """
        s = self.species_index(batch)
        n_atoms = len(s)
        owner = torch.cat([batch.structure, structure])
        order = torch.argsort(owner, stable=True)  # atoms and points, structure by structure
        joined = Batch(positions=torch.cat([batch.positions.detach(), points])[order],
                       numbers=torch.cat([batch.numbers, batch.numbers.new_zeros(len(points))])[order],
                       structure=owner[order], cell=batch.cell.detach(),
                       pbc=batch.pbc if self.periodic else torch.zeros_like(batch.pbc),
                       n_atoms=batch.n_atoms + torch.bincount(structure, minlength=batch.n_structures),
                       total_charge=batch.total_charge)
        nbrs = dscribe_images(joined, neighbor_list(joined, self.cutoff), self.cutoff)
        i, j = order[nbrs.i], order[nbrs.j]  # into [atoms, points]
        keep = (i >= n_atoms) & (j < n_atoms)  # point -> real atom
        i, j, shift = i[keep] - n_atoms, j[keep], nbrs.shift[keep]
        offset = torch.einsum("pa,pab->pb", shift, batch.cell[structure[i]])  # (P, 3)
        none = torch.full_like(structure, -1)
        vectors = batch.positions[j] + offset - points[i]  # (P, 3)
        return Environments(centre=i, neighbour=j, vectors=vectors, species=s[j], n_centres=len(points),
                            self_species=none, centre_atom=none, structure=structure)


def derivatives_of_systems(descriptor, system, centers, include, exclude, return_descriptor: bool,
                           attach: bool):
    """DScribe's ``derivatives`` for one system or a list (one call per system, like DScribe)."""
    if isinstance(system, Atoms):
        systems, centers, include, exclude = [system], [centers], [include], [exclude]
    else:
        systems = list(system)
        centers = [None] * len(systems) if centers is None else list(centers)
        include, exclude = (per_system(x, len(systems)) for x in (include, exclude))
    results = []
    for atoms, c, inc, exc in zip(systems, centers, include, exclude):
        atom_indices = included_atoms(len(atoms), inc, exc)
        batch = atoms_to_batch(atoms, device=descriptor.device, dtype=torch.float64)
        with torch.no_grad():
            d, x = descriptor.system_derivatives(batch, c, attach)
        if not _every_row_in_order(atom_indices, d.shape[1]):  # a copy only when some atoms are left out
            d = d[:, torch.as_tensor(atom_indices, dtype=torch.long, device=d.device)]
        results.append((d.cpu().numpy(), x.cpu().numpy()))
    parts = list(zip(*results))  # (derivatives per system, descriptors per system)
    parts = [p[0] if isinstance(system, Atoms) else np.stack(p) if all(q.shape == p[0].shape for q in p)
             else list(p) for p in parts]
    return tuple(parts) if return_descriptor else parts[0]


def _every_row_in_order(rows: np.ndarray, n: int) -> bool:
    """True when ``rows`` is 0, 1, ..., n - 1: indexing by it would only copy."""
    rows = np.asarray(rows)
    return rows.shape == (n,) and bool((rows == np.arange(n)).all())


def per_system(indices, n_systems: int) -> list:
    """include / exclude for a list of systems: one list for all, or one list per system."""
    if indices is None or len(indices) == 0 or np.ndim(indices[0]) == 0:
        return [indices] * n_systems
    return list(indices)


def included_atoms(n_atoms: int, include, exclude) -> np.ndarray:
    """DScribe's include/exclude: the atoms whose displacements are differentiated, with its checks."""
    if include is not None and exclude is not None:
        raise ValueError("give either include or exclude, not both (DScribe's rule)")
    if include is not None:
        include = np.asarray(include)
        if include.size == 0:
            raise ValueError("include is empty: list at least one atom index, or leave include out "
                             "to differentiate by every atom")
        return _indices(include, n_atoms, "include")
    everything = np.arange(n_atoms)
    if exclude is not None:
        return np.setdiff1d(everything, _indices(np.asarray(exclude), n_atoms, "exclude"))
    return everything


def _indices(indices: np.ndarray, n_atoms: int, name: str) -> np.ndarray:
    """Atom indices 0..n_atoms-1 for include / exclude (DScribe refuses negative ones here)."""
    if indices.size == 0:
        return indices.astype(int)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"{name} must be a list of atom indices, got {indices.tolist()!r}")
    if indices.min() < 0 or indices.max() >= n_atoms:
        raise ValueError(f"{name} has an index outside 0..{n_atoms - 1}: {indices.tolist()} (as in DScribe, "
                         f"negative indices are not allowed here: write {n_atoms} - 1 for the last atom)")
    return indices


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
    keep = (nbrs.shift.abs() <= limit[batch.structure[nbrs.i]]).all(dim=1)  # (P,)
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
    return c.astype(np.int64)
