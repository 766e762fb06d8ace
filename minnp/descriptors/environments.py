"""Local environments: centres (atoms or fixed points) and their neighbour pairs (notebook 05).

SOAP expands the neighbour density around each centre (:mod:`minnp.descriptors.soap`); DScribe's
``centers`` may be atoms, which move with their atom, or Cartesian points, which stay put
(:mod:`minnp.descriptors.dscribe_api`). Both are the same flat list of pairs (centre,
neighbour, r_j relative to the centre), sorted or not, with a few numbers per centre.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

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
