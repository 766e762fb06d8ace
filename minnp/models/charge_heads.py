"""Charge heads: atomic charges and their electrostatic energy on top of ANY per-atom feature model.

Notebook 13 puts them on the message-passing network (:mod:`.message_passing`); the equivariant
networks reuse them. The physics is notebook 10's (3G and 4G, :mod:`.fourth_generation`), the
Coulomb matrices and the Qeq solve are notebook 08/09's (:mod:`minnp.electrostatics`): nothing
here computes a Coulomb interaction of its own.

Every head maps per-atom invariant features h (N, F) of a :class:`~minnp.batch.Batch` to charges
q (N,) in e and per-atom electrostatic energies (N,) in eV::

    q, e_elec = head(h, batch)          E_elec = Σ_i e_elec,i = ½ qᵀ M q

M is the Coulomb matrix of Gaussian charges with widths σ_i (covalent radii by default, Ko et
al.'s choice) from :func:`~minnp.electrostatics.padded_coulomb_matrices`: the direct sum for
clusters, the Ewald matrix for periodic cells (a neutralising background when Σq ≠ 0), the
Gaussian self energy on its diagonal. Everything is differentiable in positions and cell, so
forces and stress come from autograd through the charges too.

:class:`DirectCharges` (3G-like, "GNN + charges" in the PFN blog)
    q_i = NN_{Z_i}(h_i). With ``conserve=True`` the excess is spread evenly over the structure,
    q_i ← q_i - (Σ_j q_j - Q)/N, so Σq = Q exactly (the charge-conserving correction of
    PhysNet, Unke & Meuwly 2019); ``conserve=False`` leaves Σq free.

:class:`QeqCharges` (4G-like, "GNN + Qeq")
    χ_i = NN_{Z_i}(h_i), one hardness J_Z = softplus(a_Z) > 0 per element, and the charges that
    minimise E_Qeq = Σ χ_i q_i + ½ J_i q_i² + ½ qᵀMq under Σq = Q: one bordered linear solve per
    structure (:func:`~minnp.electrostatics.solve_qeq`), differentiable (gradients flow through
    ``torch.linalg.solve``). Σq = Q to machine precision.

:class:`TotalChargeEmbedding` (SpookyNet's electronic embedding, simplified as in the PFN code)
    not a head but an input: h_i ← h_i + Q_s · w, a learned vector w (F,) times the total
    charge of atom i's structure, so a model can tell Ag3⁺ from Ag3⁻ at all.

The networks χ and q are the shared :class:`~minnp.models.networks.ElementNetworks` (one per
element; its input scaling stays the identity on learned features, so no extrapolation warning).

Signatures (stable; other models import them)::

    DirectCharges(species, n_features, hidden=(32,), activation="silu", conserve=True, sigma=None,
                  accuracy=1e-8, dtype=torch.float64)
    QeqCharges(species, n_features, hidden=(32,), activation="silu", hardness=5.0, sigma=None,
               accuracy=1e-8, dtype=torch.float64)
    head(features (N, F), batch) -> (charges (N,), energies (N,));   head.charges(features, batch) -> (N,)
    head.config() -> constructor kwargs (plain Python, without dtype)
    TotalChargeEmbedding(n_features, dtype=torch.float64)(features (N, F), batch) -> features (N, F)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
from ase.data import atomic_numbers as ase_numbers
from ase.data import chemical_symbols, covalent_radii

from minnp.batch import Batch, atomic_numbers, species_index, sum_per_structure
from minnp.electrostatics import matrix_potential, padded_coulomb_matrices, solve_qeq
from minnp.models.networks import ElementNetworks

Tensor = torch.Tensor
__all__ = [
    "HEADS",
    "DirectCharges",
    "QeqCharges",
    "TotalChargeEmbedding",
    "gaussian_widths",
    "inverse_softplus",
]


def gaussian_widths(symbols: Sequence[str], sigma: Mapping[str, float] | None = None) -> list[float]:
    """One Gaussian width σ (Å) per element: covalent radii by default, else ``sigma``, checked."""
    sigma = {s: float(covalent_radii[ase_numbers[s]]) for s in symbols} if sigma is None else dict(sigma)
    missing = [s for s in symbols if s not in sigma]
    if missing:
        raise ValueError(f"sigma has no Gaussian width for {missing}; give one per species {list(symbols)}")
    bad = {s: sigma[s] for s in symbols if not float(sigma[s]) > 0}
    if bad:
        raise ValueError(f"Gaussian widths must be positive lengths in Å, got {bad}; e.g. covalent radii (the default)")
    return [float(sigma[s]) for s in symbols]


def inverse_softplus(hardness: float, owner: str = "QeqCharges") -> float:
    """a with softplus(a) = J for a positive hardness J (eV/e²), checked: the Qeq matrix must stay
    positive definite. a = log(e^J - 1), written J + log(1 - e^-J) where e^J overflows."""
    if not (isinstance(hardness, numbers.Real) and math.isfinite(hardness) and hardness > 0):
        raise ValueError(f"hardness must be a positive number in eV/e² (the Qeq matrix must be positive "
                         f"definite), got {hardness!r}: e.g. {owner}(..., hardness=5.0)")
    return math.log(math.expm1(hardness)) if hardness < 30 else hardness + math.log(-math.expm1(-hardness))


class _ElectrostaticHead(torch.nn.Module):
    """What both heads share: species, Gaussian widths, one network per element, E_elec = ½ q·Mq."""

    def __init__(self, species: Sequence[str | int], n_features: int, hidden: Sequence[int], activation: str,
                 sigma: Mapping[str, float] | None, accuracy: float):
        super().__init__()
        self.species = sorted(set(atomic_numbers(species)))  # atomic numbers, ascending
        self.n_features, self.hidden = int(n_features), [int(h) for h in hidden]
        self.activation, self.accuracy = activation, float(accuracy)
        symbols = [chemical_symbols[z] for z in self.species]
        self.register_buffer("sigma", torch.tensor(gaussian_widths(symbols, sigma), dtype=torch.float64))  # (S,)
        self.networks = ElementNetworks(self.species, self.n_features, self.hidden, activation,
                                        inputs="atom features")

    def config(self) -> dict:
        symbols = [chemical_symbols[z] for z in self.species]
        return {"species": symbols, "n_features": self.n_features, "hidden": list(self.hidden),
                "activation": self.activation, "sigma": dict(zip(symbols, self.sigma.tolist())),
                "accuracy": self.accuracy}

    def _check(self, features: Tensor, batch: Batch) -> Tensor:
        if features.ndim != 2 or features.shape != (len(batch.numbers), self.n_features):
            raise ValueError(f"{type(self).__name__} needs features of shape (n_atoms, n_features) = "
                             f"({len(batch.numbers)}, {self.n_features}), got {tuple(features.shape)}")
        return species_index(batch.numbers, self.species, owner=f"this {type(self).__name__}")  # (N,)

    def matrices(self, batch: Batch, s: Tensor) -> Tensor:
        """Coulomb matrices of the Gaussian charges (B, n_max, n_max), eV/e²: direct sum or Ewald."""
        return padded_coulomb_matrices(batch, self.sigma[s].to(batch.dtype), self.accuracy)

    @staticmethod
    def energies(matrices: Tensor, q: Tensor, batch: Batch) -> Tensor:
        """e_elec,i = ½ q_i φ_i, (N,) eV, φ = M q (the Gaussian self energy included)."""
        return 0.5 * q * matrix_potential(matrices, q, batch)


class DirectCharges(_ElectrostaticHead):
    """q_i = NN_{Z_i}(h_i), with ``conserve=True`` shifted so Σq = Q per structure; (q, e_elec)."""

    def __init__(self, species: Sequence[str | int], n_features: int, hidden: Sequence[int] = (32,),
                 activation: str = "silu", conserve: bool = True, sigma: Mapping[str, float] | None = None,
                 accuracy: float = 1e-8, dtype: torch.dtype = torch.float64):
        super().__init__(species, n_features, hidden, activation, sigma, accuracy)
        self.conserve = bool(conserve)
        self.to(dtype)

    def config(self) -> dict:
        return super().config() | {"conserve": self.conserve}

    def charges(self, features: Tensor, batch: Batch) -> Tensor:
        """Atomic charges (N,) in e; no Coulomb matrix needed."""
        q = self.networks(features, self._check(features, batch))  # (N,)
        if self.conserve:  # q_i - (Σ_s q - Q_s)/N_s: the excess spread evenly over the structure
            excess = (sum_per_structure(q, batch) - batch.total_charge.to(q.dtype)) / batch.n_atoms.to(q.dtype)
            q = q - excess[batch.structure]
        return q

    def forward(self, features: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        q = self.charges(features, batch)
        s = species_index(batch.numbers, self.species)
        return q, self.energies(self.matrices(batch, s), q, batch)


class QeqCharges(_ElectrostaticHead):
    """χ_i = NN_{Z_i}(h_i), J_Z = softplus(a_Z); q from one constrained solve, Σq = Q; (q, e_elec)."""

    def __init__(self, species: Sequence[str | int], n_features: int, hidden: Sequence[int] = (32,),
                 activation: str = "silu", hardness: float = 5.0, sigma: Mapping[str, float] | None = None,
                 accuracy: float = 1e-8, dtype: torch.dtype = torch.float64):
        a = inverse_softplus(hardness)
        super().__init__(species, n_features, hidden, activation, sigma, accuracy)
        self.initial_hardness = float(hardness)
        self.hardness_parameter = torch.nn.Parameter(torch.full((len(self.species),), a))
        self.to(dtype)

    def config(self) -> dict:
        return super().config() | {"hardness": self.initial_hardness}

    @property
    def hardness(self) -> Tensor:
        """J per species (S,), eV/e², positive whatever the optimiser does."""
        return torch.nn.functional.softplus(self.hardness_parameter)

    def forward(self, features: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        s = self._check(features, batch)  # (N,)
        chi = self.networks(features, s)  # (N,) eV/e
        matrices = self.matrices(batch, s)  # (B, n_max, n_max)
        q = solve_qeq(matrices, chi, self.hardness[s].to(chi.dtype), batch)[0]  # (N,), Σq = Q
        return q, self.energies(matrices, q, batch)

    def charges(self, features: Tensor, batch: Batch) -> Tensor:
        return self(features, batch)[0]


class TotalChargeEmbedding(torch.nn.Module):
    """h_i + Q_{s(i)} · w: the structure's total charge as an input to every atom's features."""

    def __init__(self, n_features: int, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(int(n_features), dtype=dtype) / math.sqrt(n_features))

    def forward(self, features: Tensor, batch: Batch) -> Tensor:
        Q = batch.total_charge.to(features.dtype)[batch.structure]  # (N,)
        return features + Q[:, None] * self.weight  # (N, F)


HEADS = {"direct": DirectCharges, "qeq": QeqCharges}
