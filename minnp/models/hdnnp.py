"""Behler–Parrinello high-dimensional neural network potential (HDNNP, "2G").

Notebook 06 builds its pieces by hand on precomputed descriptors; notebook 07 trains it on
energies and forces. Behler & Parrinello, Phys. Rev. Lett. 98, 146401 (2007).

The total energy is a sum of atomic energies, each from a small network of the atom's element
applied to its scaled descriptor vector, plus a per-element reference energy (the networks,
scaling and offsets are :class:`~minnp.models.networks.ElementNetworks`):

    E = Σ_i [ NN_{Z_i}( (G_i - μ_{Z_i}) / s_{Z_i} ) + e_{Z_i} ]

- G_i: descriptor of atom i (ACSF by default, SOAP possible), (N, F), differentiable in x.
- μ_Z, s_Z: per-element feature mean and standard deviation, fitted on the *training split
  only*; a feature that never varies for an element gets s = 1 (no division by zero, the
  top cause of NaN losses in n2p2).
- e_Z: per-element reference energies from a least-squares fit of the training energies on
  the element counts (TorchANI's "self energies"): the networks learn only the remainder,
  which starts near zero and has a scale of meV, not of thousands of eV.
- NN_Z: Linear–tanh–Linear–tanh–Linear (:func:`element_network`), weights Xavier-initialised
  for tanh, last layer small so the untrained model predicts ≈ Σ e_Z.
- ``baseline="linear"`` (Δ-learning, :mod:`minnp.models.linear`): E_i gains a linear term
  w_Z · x̂_i; weights and e_Z are the least-squares optimum of the training loss, fitted in one
  solve before training and then frozen, and the networks learn only the remainder.

Any number of atoms and any composition: atomic energies are computed per element, flat over
the whole batch, and summed per structure by the calculator.

Training (:func:`minnp.train.fit`) computes each structure's descriptors and their derivatives
*once*, as n2p2 and RuNNer do: the descriptor has no trainable parameters, so G_i and
∂G_i/∂r_ij never change while the networks learn. Each pair vector r_ij = x_j - x_i + S·cell
enters only its centre's descriptor G_i, so the Jacobian is one (F, 3) block per pair, and

    F_a = -∂E/∂x_a = Σ_{pairs p with i_p = a} ∂E/∂r_p - Σ_{pairs p with j_p = a} ∂E/∂r_p,
    ∂E/∂r_p = Σ_f (∂E/∂G_{i_p f}) (∂G_{i_p f}/∂r_p)

needs only the networks' gradient ∂E/∂G: a training step never touches neighbour triples
again (:meth:`HDNNP.precompute`, :meth:`HDNNP.energies_and_forces`). At prediction time the model
warns when a feature leaves the range seen in training (extrapolation: the reason trained
potentials crash in MD). Checkpoints (:mod:`minnp.checkpoint`) hold only tensors, numbers and
strings, so they load with ``torch.load(weights_only=True)``: no pickled code is ever executed.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
from ase import Atoms
from ase.data import chemical_symbols

from minnp.batch import Batch, atoms_to_batch
from minnp.checkpoint import Checkpointable
from minnp.descriptors.base import Descriptor
from minnp.models import linear
from minnp.models.networks import ElementNetworks, ExtrapolationWarning, element_network

Tensor = torch.Tensor
__all__ = ["HDNNP", "FeatureCache", "ExtrapolationWarning", "element_network"]
BASELINES = (None, "linear")


@dataclasses.dataclass
class FeatureCache:
    """A batch's descriptors and their derivatives, computed once before training."""

    features: Tensor  # (N, F) G_i
    species: Tensor  # (N,) species index of each atom
    i: Tensor  # (P,) centre atom of each neighbour pair
    j: Tensor  # (P,) neighbour atom
    jacobian: Tensor | None  # (P, F, 3) ∂G_{i_p}/∂r_p; None when only energies are needed


class HDNNP(Checkpointable, torch.nn.Module):
    """One network per element on a descriptor; per-atom energies (N,) in eV.

    >>> from minnp.descriptors import ACSF
    >>> acsf = ACSF(["Si"], r_cut=6.0, g2_params=[[0.1, 0.0]], g4_params=[[0.01, 1, 1]], periodic=True)
    >>> model = HDNNP(acsf, hidden=(20, 20))
    """

    def __init__(self, descriptor: Descriptor, hidden: Sequence[int] = (25, 25), activation: str = "tanh",
                 dtype: torch.dtype = torch.float64, baseline: str | None = None):
        super().__init__()
        if baseline not in BASELINES:
            raise ValueError(f"baseline={baseline!r} is not available: use baseline='linear' (Δ-learning on the "
                             "least-squares linear model) or None (the network alone)")
        self.descriptor = descriptor
        self.species = list(descriptor.species)  # atomic numbers, ascending
        self.hidden = [int(h) for h in hidden]
        self.activation = activation
        self.baseline = baseline
        # networks, scaling (fit_scaling), energy shift (fit_energy_shift) and, with a baseline, its
        # weights (fit_baseline): saved with the model
        self.elements = ElementNetworks(self.species, descriptor.get_number_of_features(), self.hidden, activation,
                                        linear=baseline == "linear")
        self.to(dtype)

    def config(self) -> dict:
        """Constructor arguments besides the descriptor: ``HDNNP(descriptor, **model.config())``."""
        return {"hidden": list(self.hidden), "activation": self.activation, "baseline": self.baseline}

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    # the fitted parts under their HDNNP names: μ, s, training range (N_species, F) and e_Z (N_species,)
    feature_mean = property(lambda self: self.elements.input_mean)
    feature_std = property(lambda self: self.elements.input_std)
    feature_min = property(lambda self: self.elements.input_min)
    feature_max = property(lambda self: self.elements.input_max)
    energy_shift = property(lambda self: self.elements.offset)
    networks = property(lambda self: self.elements.networks)

    @property
    def warn_extrapolation(self) -> bool:
        """Warn when a structure's descriptor leaves the training range (in eval mode)."""
        return self.elements.warn_extrapolation

    @warn_extrapolation.setter
    def warn_extrapolation(self, value: bool) -> None:
        self.elements.warn_extrapolation = bool(value)

    # ---- fitting the fixed parts on the training split -----------------------------------------

    @property
    def scaling_fitted(self) -> bool:
        """Whether the feature scaling (and with it the training range) has been fitted."""
        return self.elements.scaling_fitted

    @torch.no_grad()
    def fit_scaling(self, structures: Sequence[Atoms], batch_size: int = 64) -> None:
        """Per-element feature mean, std, min and max over the training structures only."""
        self.elements.fit_scaling(*self._features_of(structures, batch_size))

    @torch.no_grad()
    def fit_energy_shift(self, structures: Sequence[Atoms]) -> Tensor:
        """Least-squares reference energy per element from total energies and element counts."""
        return self.elements.fit_offset(structures, [a.get_potential_energy() for a in structures])

    @torch.no_grad()
    def fit_linear(self, chunks, energy_weight: float = 1.0, force_weight: float = 1.0, ridge: float = 1e-6,
                   install: bool = True) -> tuple[Tensor, Tensor]:
        """The least-squares linear model on this model's scaled descriptors (:mod:`minnp.models.linear`):
        weights (S, F) and constants (S,) from chunks (cache, structure, energy, forces, n_atoms), under
        fit's loss weights. With ``baseline="linear"`` and ``install``, they become the model's frozen
        baseline and energy shift."""
        weight, constant = linear.fit_linear(chunks, self.feature_mean, self.feature_std, energy_weight,
                                             force_weight, ridge)
        if self.baseline == "linear" and install:
            self.elements.linear_weight.copy_(weight)
            self.elements.offset.copy_(constant)
        return weight, constant

    def _features_of(self, structures, batch_size):
        device, dtype = self.energy_shift.device, self.energy_shift.dtype
        G, s = [], []
        for start in range(0, len(structures), batch_size):
            batch = atoms_to_batch(structures[start:start + batch_size], device=device, dtype=dtype)
            G.append(self.descriptor(batch))
            s.append(self.descriptor.species_index(batch))
        return torch.cat(G), torch.cat(s)

    # ---- the model -------------------------------------------------------------------------------

    def forward(self, batch: Batch) -> Tensor:
        G = self.descriptor(batch)  # (N, F)
        s = self.descriptor.species_index(batch)  # (N,)
        return self.atomic_energies(G, s)

    def atomic_energies(self, G: Tensor, s: Tensor) -> Tensor:
        """E_i = NN_{s_i}((G_i - μ) / σ) + e_{s_i}, (N,), from descriptors (N, F) and species (N,)."""
        return self.elements(G, s)

    # ---- training on precomputed descriptors ------------------------------------------------

    def precompute(self, batch: Batch, derivatives: bool = True) -> FeatureCache:
        """Descriptors G (N, F) and, per neighbour pair p, ∂G_{i_p}/∂r_p (P, F, 3), once
        (:meth:`~minnp.descriptors.base.Descriptor.pair_jacobian`)."""
        s = self.descriptor.species_index(batch)  # (N,)
        if not derivatives:
            nbrs = self.descriptor.neighbors(batch)
            with torch.no_grad():
                return FeatureCache(self.descriptor.features(batch, nbrs), s, nbrs.i, nbrs.j, None)
        G, nbrs, jacobian = self.descriptor.pair_jacobian(batch)  # (N, F), pairs, (P, F, 3)
        return FeatureCache(G, s, nbrs.i, nbrs.j, jacobian)

    def energies_and_forces(self, cache: FeatureCache, create_graph: bool = False) -> tuple[Tensor, Tensor | None]:
        """Atomic energies (N,) and forces (N, 3) from a :class:`FeatureCache`: the same numbers
        as ``minnp.compute(model, batch)``, without recomputing descriptors or triples. Forces
        are None for a cache made without derivatives."""
        if cache.jacobian is None:
            energies = self.atomic_energies(cache.features, cache.species)  # (N,)
            return (energies if create_graph else energies.detach()), None
        G = cache.features.detach().requires_grad_()  # (N, F)
        with torch.enable_grad():
            energies = self.atomic_energies(G, cache.species)  # (N,)
            (dE_dG,) = torch.autograd.grad(energies.sum(), G, create_graph=create_graph)  # (N, F)
            dE_dr = torch.einsum("pf,pfc->pc", dE_dG[cache.i], cache.jacobian)  # (P, 3)
            # r_p = x_j - x_i + S·cell: ∂E/∂x_j gains ∂E/∂r_p, ∂E/∂x_i loses it; F = -∂E/∂x
            forces = dE_dr.new_zeros(G.shape[0], 3).index_add(0, cache.i, dE_dr).index_add(0, cache.j, -dE_dr)
        if not create_graph:
            energies, forces = energies.detach(), forces.detach()
        return energies, forces
