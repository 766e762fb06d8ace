"""Local environments: centres (atoms or fixed points) and their neighbour pairs (notebook 05).

SOAP expands the neighbour density around each centre (:mod:`minnp.descriptors.soap`); DScribe's
``centers`` may be atoms, which move with their atom, or Cartesian points, which stay put
(:mod:`minnp.descriptors.dscribe_api`). Both are the same flat list of pairs (centre,
neighbour, r_j relative to the centre), sorted or not, with a few numbers per centre.
:func:`pad_groups` lays the pairs of each centre out on a padded grid (so Σ_j becomes one
batched matrix product) and :func:`mean_per_structure` averages over a structure's centres.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from minnp.batch import Batch
from minnp.neighbors import Neighbors

Tensor = torch.Tensor


@dataclasses.dataclass
class Environments:
    """C local environments as flat pairs (centre, neighbour): what the expansion needs.

    A centre is an atom (its own Gaussian at r = 0 enters as ``self_species``) or a fixed point.
    """

    centre: Tensor  # (P,) environment 0..C-1 of each pair
    neighbour: Tensor  # (P,) atom index of the neighbour
    vectors: Tensor  # (P, 3) r_j relative to the centre, differentiable
    species: Tensor  # (P,) species index of the neighbour
    n_centres: int
    self_species: Tensor  # (C,) species of the atom at the centre, -1 for a point
    centre_atom: Tensor  # (C,) the atom at the centre (the environment moves with it), -1 for a point
    structure: Tensor  # (C,) structure of each environment


def concatenate(envs: list[Environments]) -> Environments:
    """Several sets of environments as one, numbering the centres on."""
    offsets = np.cumsum([0] + [e.n_centres for e in envs])
    return Environments(
        centre=torch.cat([e.centre + int(o) for e, o in zip(envs, offsets)]),
        neighbour=torch.cat([e.neighbour for e in envs]),
        vectors=torch.cat([e.vectors for e in envs]),
        species=torch.cat([e.species for e in envs]),
        n_centres=int(offsets[-1]),
        self_species=torch.cat([e.self_species for e in envs]),
        centre_atom=torch.cat([e.centre_atom for e in envs]),
        structure=torch.cat([e.structure for e in envs]),
    )


def atom_environments(batch: Batch, nbrs: Neighbors, s: Tensor, centres: Tensor | None = None,
                  vectors: Tensor | None = None) -> Environments:
    """Environments centred on atoms (all, or the global indices ``centres``), moving with them.

    ``s`` (N,): each atom's species index. ``vectors`` (P, 3) replaces ``nbrs.vectors(batch)``
    (all centres only)."""
    if centres is None:  # every atom: the neighbour list as it is
        centres, row = torch.arange(len(s), device=s.device), None
    else:  # keep the pairs of the chosen centres, renumbered 0..C-1
        row = torch.full_like(s, -1)
        row[centres] = torch.arange(len(centres), device=s.device)
        keep = row[nbrs.i] >= 0
        nbrs = Neighbors(i=nbrs.i[keep], j=nbrs.j[keep], shift=nbrs.shift[keep], r_cut=nbrs.r_cut)
    i, j = nbrs.i, nbrs.j
    vectors = nbrs.vectors(batch) if vectors is None else vectors  # (P, 3)
    return Environments(centre=i if row is None else row[i], neighbour=j, vectors=vectors, species=s[j],
                        n_centres=len(centres),
                        self_species=s[centres], centre_atom=centres, structure=batch.structure[centres])


def pad_groups(group: Tensor, n_groups: int) -> tuple[Tensor, Tensor, int]:
    """Slots of a padded (n_groups, width) grid for items of sorted or unsorted ``group`` (P,).

    Returns (counts per group, each item's slot in its group, width = largest group).
    """
    counts = torch.bincount(group, minlength=n_groups)  # (G,)
    first = torch.cumsum(counts, 0) - counts  # where each group starts once sorted
    rank = torch.arange(len(group), device=group.device)
    if bool((group[1:] >= group[:-1]).all()):  # already grouped (one species, pairs by centre)
        slot = rank - first[group]
    else:
        order = torch.argsort(group, stable=True)
        slot = torch.empty_like(group)
        slot[order] = rank - first[group[order]]
    return counts, slot, max(int(counts.max()) if len(group) else 0, 1)


def mean_per_structure(x: Tensor, structure: Tensor, n_structures: int) -> Tensor:
    """Average rows of x over the environments of each structure: (C, ...) -> (B, ...)."""
    total = x.new_zeros((n_structures,) + tuple(x.shape[1:])).index_add(0, structure, x)
    count = torch.bincount(structure, minlength=n_structures).clamp(min=1).to(x.dtype)
    return total / count.reshape((-1,) + (1,) * (x.dim() - 1))
