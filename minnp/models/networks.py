"""Per-element atomic networks: the one container every learned model in the course builds on.

Notebook 06 derives its pieces (scaling, energy shift, initialisation); notebook 07 uses them in
the HDNNP, notebook 10 in the 3G and 4G networks. Behler, J. Chem. Phys. 134, 074106 (2011).

Each atom i of element Z_i gets one output from the network of its element, applied to its
scaled input vector x_i (a descriptor G_i, or more: the 4G short-range input is (G_i, q_i)):

    y_i = NN_{Z_i}( (x_i - μ_{Z_i}) / s_{Z_i} ) + e_{Z_i}

- μ_Z, s_Z: per-element input mean and standard deviation, fitted on the *training split only*
  (:meth:`ElementNetworks.fit_scaling`); an input that never varies for an element keeps s = 1
  (no division by zero, the top cause of NaN losses in n2p2).
- min_Z, max_Z: the per-element range of each input in training; an input outside it at
  prediction time raises an :class:`ExtrapolationWarning` (extrapolation: the reason trained
  potentials crash in MD).
- e_Z: a per-element output offset (an energy shift, fitted by the model that owns it).
- NN_Z: Linear–tanh–...–Linear (:func:`element_network`), Xavier-initialised for tanh, last layer
  small so an untrained network outputs ≈ e_Z.
- with ``linear=True``, a frozen linear term w_Z · x̂_i joins the output (the linear baseline of
  :mod:`minnp.models.linear`, fitted by the owning model) and the networks' last layers start at
  zero: an untrained model *is* its baseline, and training learns only what the line misses.

The atoms are flat over a whole batch; each element's network runs once on its atoms (the
species mask loop, written here once for every model).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

Tensor = torch.Tensor
ACTIVATIONS = {"tanh": torch.nn.Tanh, "silu": torch.nn.SiLU, "softplus": torch.nn.Softplus}


class ExtrapolationWarning(UserWarning):
    """A structure's inputs (descriptor features) lie outside the range of the training data."""


def element_network(n_features: int, hidden: Sequence[int], activation: str = "tanh") -> torch.nn.Sequential:
    """The atomic network: n_features -> hidden... -> 1, tanh by default (smooth forces)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation {activation!r} is not available; choose one of {sorted(ACTIVATIONS)} "
                         "(smooth functions only: forces are derivatives of the network)")
    act = ACTIVATIONS[activation]
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


class ElementNetworks(torch.nn.Module):
    """One :func:`element_network` per species on per-atom inputs x (N, F) -> outputs y (N,).

    ``species``: atomic numbers, one network each, in the order of the species index s = 0..S-1.
    ``inputs``: what x is, for the extrapolation warning ("descriptor features").
    """

    def __init__(self, species: Sequence[int], n_inputs: int, hidden: Sequence[int], activation: str = "tanh",
                 inputs: str = "descriptor features", linear: bool = False):
        super().__init__()
        self.species = [int(z) for z in species]
        self.inputs = inputs
        self.linear = bool(linear)
        n_species = len(self.species)
        self.networks = torch.nn.ModuleList(element_network(n_inputs, hidden, activation) for _ in self.species)
        if self.linear:  # the baseline w_Z (S, F), fitted by the owning model; the networks start at zero
            self.register_buffer("linear_weight", torch.zeros(n_species, n_inputs))
            for network in self.networks:
                torch.nn.init.zeros_(network[-1].weight)
        # fitted on the training split (fit_scaling) or by the owning model (offset); saved with it
        self.register_buffer("input_mean", torch.zeros(n_species, n_inputs))
        self.register_buffer("input_std", torch.ones(n_species, n_inputs))
        self.register_buffer("input_min", torch.full((n_species, n_inputs), -torch.inf))
        self.register_buffer("input_max", torch.full((n_species, n_inputs), torch.inf))
        self.register_buffer("offset", torch.zeros(n_species))
        self.warn_extrapolation = True

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    @property
    def scaling_fitted(self) -> bool:
        """Whether :meth:`fit_scaling` has run (the training range is known)."""
        return bool(torch.isfinite(self.input_min).all())

    @torch.no_grad()
    def fit_scaling(self, x: Tensor, s: Tensor) -> None:
        """Per-element mean, standard deviation, min and max of the training inputs x (N, F)."""
        for k, symbol in enumerate(self.species_symbols):
            xk = x[s == k]  # (n_k, F)
            if len(xk) == 0:
                raise ValueError(f"no {symbol} atoms in the training structures: "
                                 "drop that species from the descriptor or add data containing it")
            std = xk.std(dim=0, unbiased=False)
            self.input_mean[k] = xk.mean(dim=0)
            self.input_std[k] = torch.where(std > 1e-8 * (1 + xk.abs().max(dim=0).values), std, torch.ones_like(std))
            self.input_min[k] = xk.min(dim=0).values
            self.input_max[k] = xk.max(dim=0).values

    @torch.no_grad()
    def fit_offset(self, structures: Sequence[Atoms], targets: Sequence[float]) -> Tensor:
        """Offsets e_Z (S,) by least squares of per-structure targets (B,) on the element counts
        (TorchANI's "self energies"); the mean per atom when the counts cannot tell the elements
        apart (e.g. one fixed composition)."""
        counts = np.array([[np.sum(a.numbers == z) for z in self.species] for a in structures], dtype=float)
        targets = np.asarray(targets, dtype=float)  # (B,)
        offset, *_ = np.linalg.lstsq(counts, targets, rcond=None)
        if np.linalg.matrix_rank(counts) < len(self.species):
            offset = np.full(len(self.species), targets.sum() / counts.sum())
        self.offset.copy_(torch.as_tensor(offset))
        return self.offset

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        """y_i = NN_{s_i}((x_i - μ) / σ) + e_{s_i} (+ w_{s_i} · x̂_i with ``linear``), (N,), from
        inputs (N, F) and species index (N,)."""
        if self.warn_extrapolation and not self.training:
            self.check_range(x.detach(), s)
        x = (x - self.input_mean[s]) / self.input_std[s]  # (N, F)
        out = self.offset[s].clone()  # (N,)
        if self.linear:
            out = out + (x * self.linear_weight[s]).sum(dim=1)
        for k, network in enumerate(self.networks):
            mask = s == k
            if mask.any():
                out = out.index_put((mask,), out[mask] + network(x[mask]).squeeze(-1))
        return out

    def check_range(self, x: Tensor, s: Tensor) -> None:
        """Warn (:class:`ExtrapolationWarning`) when inputs x (N, F) leave the training range."""
        low, high = self.input_min[s], self.input_max[s]  # (N, F)
        margin = 1e-6 * (high - low).abs().nan_to_num(posinf=0.0) + 1e-9
        outside = (x < low - margin) | (x > high + margin)  # (N, F)
        if outside.any():
            atoms = int(outside.any(dim=1).sum())
            worst = ((x - high).clamp(min=0) + (low - x).clamp(min=0)) / self.input_std[s]
            warnings.warn(
                f"extrapolation: {atoms} of {len(x)} atoms have {self.inputs} outside the training range "
                f"(up to {float(worst.max()):.2g} standard deviations); predictions there are not reliable",
                ExtrapolationWarning, stacklevel=5)  # the line of the model that called its networks
