"""What every descriptor shares: species, periodicity, the torch path and the pair Jacobian.

Notebook 04 (ACSF) and notebook 05 (SOAP) use it; models (notebooks 06-07) call ``forward``.

A descriptor turns each atom's neighbourhood into a feature vector G_i. In minnp it has two
faces and ONE implementation behind them:

    forward(batch)                  -> Tensor (N, F)   per-atom features of a whole Batch:
                                       differentiable in positions and cell, CPU or GPU.
                                       Models call this; forces come from autograd.
    create(system_or_list, centers) -> NumPy, shaped exactly like DScribe's ``create`` output,
                                       for checking against DScribe and for users who know it
                                       (:mod:`minnp.descriptors.dscribe_api`).

How a descriptor plugs in (ACSF and SOAP both do this)::

    class MyDescriptor(DScribeSurface, Descriptor):
        def __init__(self, species, ..., periodic=False):
            super().__init__(species, periodic)   # sorted atomic numbers
            self.cutoff = ...                     # neighbour-list cutoff in Å
        def features(self, batch, nbrs, vectors=None):  # the maths: (N, F) from a neighbour list
            s = self.species_index(batch)         # (N,) species index 0..S-1, checked
            r_ij = nbrs.vectors(batch) if vectors is None else vectors  # (P, 3) differentiable
            ...
        def config(self): ...                     # the constructor's arguments, plain Python
        def get_number_of_features(self): ...
        def feature_names(self): ...              # one readable name per column

Species: unique atomic numbers sorted ascending, index s = 0..S-1 (DScribe's order), through
:func:`minnp.batch.species_index`. A structure holding any other element raises "species 'O'
not among this descriptor's species".

Periodicity (DScribe's meaning): ``periodic=True`` uses each structure's own pbc, axis by axis;
``periodic=False`` describes isolated clusters. ``create`` ignores the cell then, as DScribe
does; ``forward`` refuses a periodic structure instead, because a model that silently treats a
crystal as a cluster gives wrong energies (pass ``periodic=True``).

The pair Jacobian. Each pair vector r_p = x_j - x_i + S·cell enters only its centre's G_i, so
the whole derivative of the features is one (F, 3) block per pair,

    J_p = ∂G_{i_p} / ∂r_p,        ∂G_i/∂x_a = Σ_{p: i_p = i, j_p = a} J_p - δ_ia Σ_{p: i_p = i} J_p,

which is all that training on forces (notebook 07) and DScribe's ``derivatives`` need.
:meth:`Descriptor.pair_jacobian` is the one way to get it: by default one backward pass per
feature; ACSF and SOAP override it with faster exact routes that tests hold to it.
"""

from __future__ import annotations

from typing import Sequence

import torch
from ase.data import chemical_symbols

from minnp.batch import Batch, atomic_numbers, species_index
from minnp.neighbors import Neighbors

Tensor = torch.Tensor


class Descriptor(torch.nn.Module):
    """Base of ACSF and SOAP: species, periodicity, ``forward`` and ``pair_jacobian``."""

    cutoff: float  # neighbour-list cutoff in Å, set by the subclass

    def __init__(self, species: Sequence[str | int], periodic: bool = False):
        super().__init__()
        if species is None or isinstance(species, (str, int)) or len(species) == 0:
            raise ValueError(f"species must be a non-empty list of elements, e.g. ['Si', 'O'], "
                             f"got {species!r}")
        self.species = sorted(set(atomic_numbers(species)))  # atomic numbers, ascending
        self.periodic = bool(periodic)

    @property
    def n_species(self) -> int:
        return len(self.species)

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    @property
    def device(self) -> torch.device:
        """Where the descriptor's constant tables live (CPU until ``.to(device)``)."""
        return next(iter(self.buffers()), torch.empty(0)).device

    def species_index(self, batch: Batch) -> Tensor:
        """Each atom's species index s = 0..S-1, (N,); a clear error for an unknown element."""
        return species_index(batch.numbers, self.species, owner="this descriptor")

    def config(self) -> dict:
        """The constructor's keyword arguments as plain Python (lists, numbers, strings, None),
        so that ``type(d)(**d.config())`` rebuilds a descriptor with identical features."""
        raise NotImplementedError(f"{type(self).__name__} must define config() to be saved in a checkpoint")

    # ---- the torch path -------------------------------------------------------------------

    def features(self, batch: Batch, nbrs: Neighbors, vectors: Tensor | None = None) -> Tensor:
        """Per-atom features (N, F) from a neighbour list: the subclass's maths.

        ``vectors`` (P, 3) replaces ``nbrs.vectors(batch)`` (a tensor to differentiate by).
        """
        raise NotImplementedError

    def get_number_of_features(self) -> int:
        raise NotImplementedError

    def feature_names(self) -> list[str]:
        raise NotImplementedError

    def neighbors(self, batch: Batch) -> Neighbors:
        """The neighbour list a model's descriptor sees (cached on the batch).

        A periodic structure given to a ``periodic=False`` descriptor is an error here: DScribe's
        default would describe it as an isolated cluster, silently wrong for a crystal.
        """
        if not self.periodic and bool(batch.pbc.any()):
            which = torch.nonzero(batch.pbc.any(dim=1)).flatten().tolist()
            raise ValueError(
                f"structures {which[:10]} are periodic but this {type(self).__name__} was made with "
                f"periodic=False, which would treat them as isolated clusters: make it with "
                f"{type(self).__name__}(..., periodic=True), or set atoms.pbc = False for real clusters")
        return batch.neighbors(self.cutoff)

    def forward(self, batch: Batch) -> Tensor:
        """Per-atom features (N, F) for every atom of every structure in the batch."""
        return self.features(batch, self.neighbors(batch))

    def pair_jacobian(self, batch: Batch, nbrs: Neighbors | None = None) -> tuple[Tensor, Neighbors, Tensor]:
        """Features G (N, F), the neighbour list used, and J (P, F, 3) = ∂G_{i_p}/∂r_p.

        Detached results (training precomputes them once). ``nbrs`` defaults to
        :meth:`neighbors`. This general route takes one backward pass per feature: the gradient
        of Σ_i G_if by the pair vectors is ∂G_{i_p f}/∂r_p for every pair at once, because r_p
        enters only its centre's G.
        """
        nbrs = self.neighbors(batch) if nbrs is None else nbrs
        with torch.enable_grad():
            r_vec = nbrs.vectors(batch).detach().requires_grad_()  # (P, 3)
            G = self.features(batch, nbrs, r_vec)  # (N, F)
            columns = [torch.autograd.grad(G[:, f].sum(), r_vec, retain_graph=True, allow_unused=True,
                                           materialize_grads=True)[0] for f in range(G.shape[1])]
        jacobian = torch.stack(columns, dim=1) if columns else r_vec.new_zeros(len(nbrs), 0, 3)  # (P, F, 3)
        return G.detach(), nbrs, jacobian.detach()

    def extra_repr(self) -> str:
        return f"species={self.species_symbols}, cutoff={self.cutoff}, periodic={self.periodic}"


def jacobian_on_atoms(jacobian: Tensor, row: Tensor, neighbour: Tensor, moving: Tensor,
                      n_rows: int, n_atoms: int) -> Tensor:
    """Pair Jacobians J (P, F, 3) -> ∂G_row/∂x_atom (n_rows, n_atoms, 3, F) (DScribe's layout).

    Pair p adds J_p to its neighbour atom (its periodic images move with it) and, when its
    centre moves with an atom (``moving[p]`` ≥ 0; -1 for a fixed point), -J_p to that atom:
    r_p = x_j - x_i + S·cell. ``row`` (P,) is the output row of each pair's centre.
    """
    out = jacobian.new_zeros(n_rows * n_atoms, jacobian.shape[1], 3)
    out.index_add_(0, row * n_atoms + neighbour, jacobian)
    attached = moving >= 0
    out.index_add_(0, (row * n_atoms + moving)[attached], -jacobian[attached])
    return out.reshape(n_rows, n_atoms, -1, 3).transpose(2, 3)
