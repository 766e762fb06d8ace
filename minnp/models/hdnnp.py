"""Behler–Parrinello high-dimensional neural network potential (HDNNP, "2G").

Notebook 06 builds its pieces by hand on precomputed descriptors; notebook 07 trains it on
energies and forces. Behler & Parrinello, Phys. Rev. Lett. 98, 146401 (2007).

The total energy is a sum of atomic energies, each from a small network of the atom's element
applied to its scaled descriptor vector, plus a per-element reference energy:

    E = Σ_i [ NN_{Z_i}( (G_i - μ_{Z_i}) / s_{Z_i} ) + e_{Z_i} ]

- G_i: descriptor of atom i (ACSF by default, SOAP possible), (N, F), differentiable in x.
- μ_Z, s_Z: per-element feature mean and standard deviation, fitted on the *training split
  only*; a feature that never varies for an element gets s = 1 (no division by zero, the
  top cause of NaN losses in n2p2).
- e_Z: per-element reference energies from a least-squares fit of the training energies on
  the element counts (TorchANI's "self energies"): the networks learn only the remainder,
  which starts near zero and has a scale of meV, not of thousands of eV.
- NN_Z: Linear–tanh–Linear–tanh–Linear, weights Xavier-initialised for tanh, last layer
  small so the untrained model predicts ≈ Σ e_Z.

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
potentials crash in MD). Checkpoints hold only tensors, numbers and strings, so they load
with ``torch.load(weights_only=True)``: no pickled code is ever executed.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

import minnp
from minnp.batch import Batch, atoms_to_batch
from minnp.descriptors.base import Descriptor
from minnp.neighbors import Neighbors

Tensor = torch.Tensor
CHECKPOINT_FORMAT = "minnp.HDNNP"
CHECKPOINT_VERSION = 1


class ExtrapolationWarning(UserWarning):
    """A structure's descriptor lies outside the range of the training data."""


def element_network(n_features: int, hidden: Sequence[int], activation: str = "tanh") -> torch.nn.Sequential:
    """The atomic network: n_features -> hidden... -> 1, tanh by default (smooth forces)."""
    act = {"tanh": torch.nn.Tanh, "silu": torch.nn.SiLU, "softplus": torch.nn.Softplus}[activation]
    layers, width = [], n_features
    for h in hidden:
        linear = torch.nn.Linear(width, h)
        torch.nn.init.xavier_normal_(linear.weight, gain=5 / 3 if activation == "tanh" else 1.0)
        torch.nn.init.zeros_(linear.bias)
        layers += [linear, act()]
        width = h
    out = torch.nn.Linear(width, 1)
    torch.nn.init.normal_(out.weight, std=0.01)
    torch.nn.init.zeros_(out.bias)
    return torch.nn.Sequential(*layers, out)


@dataclasses.dataclass
class FeatureCache:
    """A batch's descriptors and their derivatives, computed once before training."""

    features: Tensor  # (N, F) G_i
    species: Tensor  # (N,) species index of each atom
    i: Tensor  # (P,) centre atom of each neighbour pair
    j: Tensor  # (P,) neighbour atom
    jacobian: Tensor | None  # (P, F, 3) ∂G_{i_p}/∂r_p; None when only energies are needed


class _GivenVectors(Neighbors):
    """A neighbour list whose pair vectors are a given tensor (a leaf we differentiate by)."""

    def __init__(self, nbrs: Neighbors, vectors: Tensor):
        super().__init__(i=nbrs.i, j=nbrs.j, shift=nbrs.shift, r_cut=nbrs.r_cut)
        self.given = vectors

    def vectors(self, batch: Batch) -> Tensor:
        return self.given


class HDNNP(torch.nn.Module):
    """One network per element on a descriptor; per-atom energies (N,) in eV.

    >>> from minnp.descriptors import ACSF
    >>> acsf = ACSF(["Si"], r_cut=6.0, g2_params=[[0.1, 0.0]], g4_params=[[0.01, 1, 1]], periodic=True)
    >>> model = HDNNP(acsf, hidden=(20, 20))
    """

    def __init__(self, descriptor: Descriptor, hidden: Sequence[int] = (25, 25), activation: str = "tanh",
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.descriptor = descriptor
        self.species = list(descriptor.species)  # atomic numbers, ascending
        self.hidden = [int(h) for h in hidden]
        self.activation = activation
        n_features, n_species = descriptor.get_number_of_features(), len(self.species)
        self.networks = torch.nn.ModuleList(element_network(n_features, self.hidden, activation) for _ in self.species)
        # Fitted on training data (fit_scaling, fit_energy_shift); saved with the model.
        self.register_buffer("feature_mean", torch.zeros(n_species, n_features))
        self.register_buffer("feature_std", torch.ones(n_species, n_features))
        self.register_buffer("feature_min", torch.full((n_species, n_features), -torch.inf))
        self.register_buffer("feature_max", torch.full((n_species, n_features), torch.inf))
        self.register_buffer("energy_shift", torch.zeros(n_species))
        self.warn_extrapolation = True
        self.to(dtype)

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    # ---- fitting the fixed parts on the training split -----------------------------------------

    @torch.no_grad()
    def fit_scaling(self, structures: Sequence[Atoms], batch_size: int = 64) -> None:
        """Per-element feature mean, std, min and max over the training structures only."""
        G, s = self._features_of(structures, batch_size)  # (N, F), (N,)
        for k in range(len(self.species)):
            g = G[s == k]
            if len(g) == 0:
                raise ValueError(f"no {self.species_symbols[k]} atoms in the training structures: "
                                 "drop that species from the descriptor or add data containing it")
            std = g.std(dim=0, unbiased=False)
            self.feature_mean[k] = g.mean(dim=0)
            self.feature_std[k] = torch.where(std > 1e-8 * (1 + g.abs().max(dim=0).values), std, torch.ones_like(std))
            self.feature_min[k] = g.min(dim=0).values
            self.feature_max[k] = g.max(dim=0).values

    @torch.no_grad()
    def fit_energy_shift(self, structures: Sequence[Atoms]) -> Tensor:
        """Least-squares reference energy per element from total energies and element counts."""
        counts = np.array([[np.sum(a.numbers == z) for z in self.species] for a in structures], dtype=float)
        energies = np.array([a.get_potential_energy() for a in structures])
        shift, *_ = np.linalg.lstsq(counts, energies, rcond=None)
        if np.linalg.matrix_rank(counts) < len(self.species):  # e.g. one fixed composition
            shift = np.full(len(self.species), energies.sum() / counts.sum())  # mean energy per atom
        self.energy_shift.copy_(torch.as_tensor(shift))
        return self.energy_shift

    def _features_of(self, structures, batch_size):
        device = self.energy_shift.device
        G, s = [], []
        for start in range(0, len(structures), batch_size):
            batch = atoms_to_batch(structures[start:start + batch_size], device=device, dtype=self.energy_shift.dtype)
            G.append(self.descriptor(batch))
            s.append(self.descriptor.species_index(batch))
        return torch.cat(G), torch.cat(s)

    # ---- the model -------------------------------------------------------------------------------

    def forward(self, batch: Batch) -> Tensor:
        G = self.descriptor(batch)  # (N, F)
        s = self.descriptor.species_index(batch)  # (N,)
        if self.warn_extrapolation and not self.training:
            self._check_range(G.detach(), s)
        return self.atomic_energies(G, s)

    def atomic_energies(self, G: Tensor, s: Tensor) -> Tensor:
        """E_i = NN_{s_i}((G_i - μ) / σ) + e_{s_i}, (N,), from descriptors (N, F) and species (N,)."""
        x = (G - self.feature_mean[s]) / self.feature_std[s]  # (N, F)
        energies = self.energy_shift[s].clone()  # (N,)
        for k, network in enumerate(self.networks):
            mask = s == k
            if mask.any():
                energies = energies.index_put((mask,), energies[mask] + network(x[mask]).squeeze(-1))
        return energies

    # ---- training on precomputed descriptors ------------------------------------------------

    def precompute(self, batch: Batch, derivatives: bool = True) -> FeatureCache:
        """Descriptors G (N, F) and, per neighbour pair p, ∂G_{i_p}/∂r_p (P, F, 3), once.

        One backward pass per feature f: the gradient of Σ_i G_if by the pair vectors is
        ∂G_{i_p f}/∂r_p for every pair at once, because r_p enters only its centre's G.
        """
        nbrs = self.descriptor.neighbors(batch)
        s = self.descriptor.species_index(batch)  # (N,)
        if not derivatives:
            with torch.no_grad():
                return FeatureCache(self.descriptor.features(batch, nbrs), s, nbrs.i, nbrs.j, None)
        with torch.enable_grad():
            r_vec = nbrs.vectors(batch).detach().requires_grad_()  # (P, 3)
            G = self.descriptor.features(batch, _GivenVectors(nbrs, r_vec))  # (N, F)
            columns = [torch.autograd.grad(G[:, f].sum(), r_vec, retain_graph=True, allow_unused=True,
                                           materialize_grads=True)[0] for f in range(G.shape[1])]
        jacobian = torch.stack(columns, dim=1) if columns else r_vec.new_zeros(len(nbrs), 0, 3)  # (P, F, 3)
        return FeatureCache(G.detach(), s, nbrs.i, nbrs.j, jacobian.detach())

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

    def _check_range(self, G: Tensor, s: Tensor) -> None:
        low, high = self.feature_min[s], self.feature_max[s]
        margin = 1e-6 * (high - low).abs().nan_to_num(posinf=0.0) + 1e-9
        outside = (G < low - margin) | (G > high + margin)  # (N, F)
        if outside.any():
            atoms = int(outside.any(dim=1).sum())
            worst = ((G - high).clamp(min=0) + (low - G).clamp(min=0)) / self.feature_std[s]
            warnings.warn(
                f"extrapolation: {atoms} of {len(G)} atoms have descriptor features outside the training range "
                f"(up to {float(worst.max()):.2g} standard deviations); predictions there are not reliable",
                ExtrapolationWarning, stacklevel=3)

    # ---- checkpoints ----------------------------------------------------------------------------

    def save(self, path) -> None:
        """Everything needed to rebuild the model, as tensors, numbers and strings only."""
        torch.save({
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "minnp_version": minnp.__version__,
            "descriptor": descriptor_config(self.descriptor),
            "hidden": self.hidden,
            "activation": self.activation,
            "species": self.species,
            "dtype": str(self.energy_shift.dtype).removeprefix("torch."),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }, path)

    @classmethod
    def load(cls, path, device=None) -> "HDNNP":
        """Rebuild a saved model; never unpickles arbitrary objects (``weights_only=True``)."""
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a minnp HDNNP checkpoint")
        if data["version"] != CHECKPOINT_VERSION:
            raise ValueError(f"{path} is checkpoint version {data['version']} (written by minnp "
                             f"{data.get('minnp_version')}); this minnp reads version {CHECKPOINT_VERSION}: "
                             "load it with the minnp version that wrote it")
        descriptor = build_descriptor(data["descriptor"])
        model = cls(descriptor, hidden=data["hidden"], activation=data["activation"],
                    dtype=getattr(torch, data["dtype"]))
        model.load_state_dict(data["state_dict"])
        model.eval()  # a loaded model predicts: extrapolation warnings on
        return model.to(device) if device is not None else model


def descriptor_config(descriptor: Descriptor) -> dict:
    """A descriptor's class name and constructor arguments, as plain lists and numbers."""
    def plain(value):
        if isinstance(value, np.ndarray):
            return value.tolist() if value.size else None  # an empty parameter set means "none"
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, np.generic):
            return value.item()
        return value

    names = [p for p in inspect.signature(type(descriptor).__init__).parameters if p != "self"]
    missing = [p for p in names if not hasattr(descriptor, p)]
    if missing:
        raise TypeError(f"{type(descriptor).__name__} does not keep its arguments {missing} as attributes; "
                        "a checkpoint cannot rebuild it")
    return {"class": type(descriptor).__name__, "kwargs": {p: plain(getattr(descriptor, p)) for p in names}}


def build_descriptor(config: dict) -> Descriptor:
    """The inverse of :func:`descriptor_config`: only minnp's own descriptor classes are allowed."""
    import minnp.descriptors as descriptors

    cls = getattr(descriptors, config["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, Descriptor)):
        raise ValueError(f"unknown descriptor class {config['class']!r} in checkpoint")
    return cls(**config["kwargs"])
