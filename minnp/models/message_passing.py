"""A message-passing network (SchNet) and its charge-transfer variants: the PFN experiment.

Notebook 13 trains it on the course's charge-transfer sets beside notebook 10's 2G/3G/4G.
Schütt, Kindermans, Sauceda, Chmiela, Tkatchenko & Müller, NeurIPS 30 (2017); Schütt, Sauceda,
Kindermans, Tkatchenko & Müller, J. Chem. Phys. 148, 241722 (2018) (SchNet).

A descriptor (notebooks 04-05) fixes what an atom "sees" before any learning. A message-passing
network learns it. Each atom starts from a learned vector of its element, h_i⁰ = a_{Z_i} (F,),
and T interaction layers let every atom collect *messages* from its neighbours within r_cut:

    m_i = Σ_{j ∈ N(i)} W(r_ij) ⊙ (Lin h_j)          continuous-filter convolution (cfconv)
    W(r) = Dense(ssp(Dense(e(r)))) · f_c(r)          filter network on a radial basis e_k(r)
    h_i ← h_i + Dense(ssp(Dense(m_i)))               residual update

with e_k(r) SchNet's Gaussians and f_c the cosine cutoff (:mod:`.radial`), ssp(x) = ln(½eˣ + ½)
the shifted softplus. The filter depends only on distances, so h is invariant to rotations,
translations and permutations. After T layers, h_i depends on atoms up to T·r_cut away: the
*receptive field*. Each layer is one pass over the neighbour pairs (``index_add_``), no loop over
atoms; periodic cells work through the same neighbour list as every other model.

:class:`SchNet` is the representation: a (learned) :class:`~minnp.descriptors.Descriptor`, so the
checkpoint stores it like ACSF or SOAP (its weights in the model's state). With
``total_charge=True`` the total charge Q of each structure enters h⁰ through
:class:`~minnp.models.charge_heads.TotalChargeEmbedding` (h_i⁰ + Q·w), so messages carry it.

:class:`MessagePassingPotential` reads energies out of h, per element (the shared
:class:`~minnp.models.networks.ElementNetworks`, with per-element energy offsets), optionally
with a charge head (:mod:`.charge_heads`: ``"direct"`` with or without the conserving shift,
``"qeq"``) whose electrostatic energy is added and whose charge the readout sees, as the 4G
short-range networks do (notebook 10):

    E = Σ_i [NN_{Z_i}(h_i) + e_{Z_i}]                       no charge head
    E = Σ_i [NN_{Z_i}(h_i, q_i) + e_{Z_i}] + ½ qᵀ M q        with one

Without q_i in the readout, a conserving head could not tell Ag3⁺ from Ag3⁻ in a symmetric
geometry: the two states' charges differ by Q/3 on every atom, and ½qᵀMq alone is blind to that.

All parts train at once with :func:`minnp.train.fit` on energies, forces and (with a charge head)
reference charges, one forward pass per step (``energies_and_charges``). Forces and stress come
from autograd (:func:`minnp.compute`), so ``minnp.Calculator`` runs the model in ASE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from ase import Atoms
from ase.data import chemical_symbols

from minnp.batch import Batch, atoms_to_batch, sum_per_structure
from minnp.checkpoint import Checkpointable
from minnp.descriptors.base import Descriptor
from minnp.models.charge_heads import HEADS, TotalChargeEmbedding
from minnp.models.networks import ElementNetworks
from minnp.models.radial import BASES, cosine_cutoff
from minnp.neighbors import Neighbors

Tensor = torch.Tensor
__all__ = ["MessagePassingPotential", "SchNet", "shifted_softplus", "shifted_softplus_fast"]


def shifted_softplus(x: Tensor) -> Tensor:
    """ssp(x) = ln(½eˣ + ½) = softplus(x) - ln 2: smooth, and ssp(0) = 0."""
    return torch.nn.functional.softplus(x) - math.log(2.0)


class _ShiftedSoftplusFast(torch.autograd.Function):
    """ssp with its derivative written out: ssp'(x) = σ(x) = 1/(1 + e⁻ˣ), the logistic sigmoid."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.nn.functional.softplus(x) - math.log(2.0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(x)  # plain torch ops: autograd differentiates this again (σ' = σ(1 - σ))


def shifted_softplus_fast(x: Tensor) -> Tensor:
    """:func:`shifted_softplus`, the same values, cheaper to differentiate twice (what SchNet's layers use).

    Training on forces differentiates the network twice (forces are -dE/dr, the loss on them
    differentiated again by the weights). Autograd's second derivative of ``softplus`` is a chain
    of several operations per element; here ssp' = σ(x) is written out once and its own
    derivative is autograd's one-step σ' = σ(1 - σ). Same numbers (test_message_passing checks
    values, first and second derivatives to 1e-12 in float64); only for x > 20, where torch's
    softplus returns x itself, is ssp' = σ(x) = 1 - 2e-9 instead of exactly 1.
    """
    return _ShiftedSoftplusFast.apply(x)


class Interaction(torch.nn.Module):
    """One SchNet interaction: cfconv messages over the pairs, then a residual atom-wise update."""

    def __init__(self, n_features: int, n_basis: int):
        super().__init__()
        self.filter_1 = torch.nn.Linear(n_basis, n_features)
        self.filter_2 = torch.nn.Linear(n_features, n_features)
        self.in_to_filter = torch.nn.Linear(n_features, n_features, bias=False)
        self.update_1 = torch.nn.Linear(n_features, n_features)
        self.update_2 = torch.nn.Linear(n_features, n_features)

    # ssp itself (shifted_softplus), with a cheaper second derivative for training on forces
    activation = staticmethod(shifted_softplus_fast)

    def forward(self, h: Tensor, i: Tensor, j: Tensor, basis: Tensor, f_c: Tensor) -> Tensor:
        ssp = self.activation
        W = self.filter_2(ssp(self.filter_1(basis))) * f_c[:, None]  # (P, F)
        messages = W * self.in_to_filter(h).index_select(0, j)  # (P, F): what j tells i (= x[j], faster)
        m = torch.zeros_like(h).index_add_(0, i, messages)  # (N, F): Σ_j over each atom's pairs
        return h + self.update_2(ssp(self.update_1(m)))  # (N, F)


class LearnedFeatures(Descriptor):
    """What a message-passing network's features share (SchNet here, :mod:`.equivariant` in 14):
    ``n_features`` learned numbers per atom after ``n_interactions`` layers of cutoff ``r_cut``."""

    n_features: int
    n_interactions: int

    def get_number_of_features(self) -> int:
        return self.n_features

    def feature_names(self) -> list[str]:
        return [f"h{k}" for k in range(self.n_features)]

    @property
    def receptive_field(self) -> float:
        """How far information travels: n_interactions · r_cut, Å."""
        return self.n_interactions * self.cutoff


class SchNet(LearnedFeatures):
    """Learned invariant atom features h (N, F) after ``n_interactions`` message-passing layers.

    >>> net = SchNet(["C", "H"], r_cut=4.0, n_features=32, n_interactions=2)
    >>> net.get_number_of_features()
    32
    """

    def __init__(self, species: Sequence[str | int], r_cut: float = 5.0, n_features: int = 64,
                 n_interactions: int = 3, n_basis: int = 20, basis: str = "gaussian", total_charge: bool = False,
                 periodic: bool = True, dtype: torch.dtype = torch.float64):
        super().__init__(species, periodic)
        if not (isinstance(r_cut, (int, float)) and math.isfinite(r_cut) and r_cut > 0):
            raise ValueError(f"r_cut must be a positive distance in Å, got {r_cut!r}: e.g. SchNet(..., r_cut=5.0)")
        if not (isinstance(n_interactions, int) and n_interactions >= 0):
            raise ValueError(f"n_interactions must be a whole number of layers ≥ 0, got {n_interactions!r}")
        if basis not in BASES:
            raise ValueError(f"basis {basis!r} is not available; choose one of {sorted(BASES)}")
        self.cutoff, self.n_features, self.n_interactions = float(r_cut), int(n_features), n_interactions
        self.n_basis, self.basis, self.total_charge = int(n_basis), basis, bool(total_charge)
        self.embedding = torch.nn.Parameter(torch.randn(self.n_species, self.n_features))  # (S, F) a_Z
        self.charge_embedding = TotalChargeEmbedding(self.n_features) if self.total_charge else None
        self.interactions = torch.nn.ModuleList(Interaction(self.n_features, self.n_basis)
                                                for _ in range(n_interactions))
        self.to(dtype)

    def config(self) -> dict:
        return {"species": self.species_symbols, "r_cut": self.cutoff, "n_features": self.n_features,
                "n_interactions": self.n_interactions, "n_basis": self.n_basis, "basis": self.basis,
                "total_charge": self.total_charge, "periodic": self.periodic}

    def features(self, batch: Batch, nbrs: Neighbors, vectors: Tensor | None = None) -> Tensor:
        s = self.species_index(batch)  # (N,)
        r_ij = nbrs.vectors(batch) if vectors is None else vectors  # (P, 3)
        r = torch.linalg.vector_norm(r_ij, dim=1)  # (P,)
        basis = BASES[self.basis](r, self.cutoff, self.n_basis)  # (P, K)
        f_c = cosine_cutoff(r, self.cutoff)  # (P,)
        h = self.embedding[s]  # (N, F) h⁰
        if self.charge_embedding is not None:
            h = self.charge_embedding(h, batch)  # h⁰ + Q·w
        for interaction in self.interactions:
            h = interaction(h, nbrs.i, nbrs.j, basis, f_c)  # (N, F)
        return h

    def extra_repr(self) -> str:
        return (f"species={self.species_symbols}, r_cut={self.cutoff}, n_features={self.n_features}, "
                f"n_interactions={self.n_interactions}, total_charge={self.total_charge}")


class MessagePassingPotential(Checkpointable, torch.nn.Module):
    """E = Σ_i [NN_{Z_i}(h_i[, q_i]) + e_{Z_i}] (+ ½qᵀMq with a charge head); per-atom energies (N,) in eV.

    ``charges``: None (the plain GNN), ``"direct"`` (q_i = NN(h_i); ``conserve`` shifts them to
    Σq = Q) or ``"qeq"`` (χ_i = NN(h_i), charge equilibration; ``hardness`` its start value).

    >>> model = MessagePassingPotential(SchNet(["C", "H"], r_cut=4.0, n_features=16), charges="qeq")
    """

    def __init__(self, descriptor: SchNet, charges: str | None = None, hidden: Sequence[int] = (32,),
                 activation: str = "silu", conserve: bool = True, hardness: float = 5.0,
                 sigma: Mapping[str, float] | None = None, accuracy: float = 1e-8,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        if not isinstance(descriptor, Descriptor):
            raise TypeError(f"descriptor must be a minnp Descriptor such as SchNet(...), got {type(descriptor).__name__}")
        if charges is not None and charges not in HEADS:
            raise ValueError(f"charges must be None (no charges) or one of {sorted(HEADS)}, got {charges!r}")
        self.descriptor = descriptor
        self.species = list(descriptor.species)
        self.charge_model, self.hidden, self.activation = charges, [int(h) for h in hidden], activation
        n_features = descriptor.get_number_of_features()
        extra = 0 if charges is None else 1  # with a charge head the readout sees q_i too, as 4G's does
        self.short_range = ElementNetworks(self.species, n_features + extra, self.hidden, activation,
                                           inputs="atom features")
        symbols = [chemical_symbols[z] for z in self.species]
        head = {"direct": {"conserve": conserve}, "qeq": {"hardness": hardness}}.get(charges, {})
        self.head = None if charges is None else HEADS[charges](symbols, n_features, self.hidden, activation,
                                                                sigma=sigma, accuracy=accuracy, **head)
        self.register_buffer("shift_fitted", torch.zeros((), dtype=torch.bool))
        self.to(dtype)

    def config(self) -> dict:
        """Constructor arguments besides the descriptor: ``cls(descriptor, **config)``."""
        out = {"charges": self.charge_model, "hidden": list(self.hidden), "activation": self.activation}
        if self.head is not None:
            head = self.head.config()
            out |= {"sigma": head["sigma"], "accuracy": head["accuracy"]}
            out |= {"conserve": head["conserve"]} if self.charge_model == "direct" else {"hardness": head["hardness"]}
        return out

    @property
    def warn_extrapolation(self) -> bool:  # learned features have no fixed training range
        return False

    @property
    def scaling_fitted(self) -> bool:
        """Whether :meth:`fit_energy_shift` has run (a second :func:`minnp.train.fit` must say how)."""
        return bool(self.shift_fitted)

    def energy_terms(self, batch: Batch) -> dict[str, Tensor]:
        """Per-atom ``short`` and ``elec`` energies (N,) in eV and the ``charges`` (N,) in e
        (zeros without a charge head)."""
        h = self.descriptor(batch)  # (N, F)
        s = self.descriptor.species_index(batch)  # (N,)
        if self.head is None:
            e_short = self.short_range(h, s)  # (N,)
            zero = torch.zeros_like(e_short)
            return {"short": e_short, "elec": zero, "charges": zero}
        q, e_elec = self.head(h, batch)  # (N,), (N,)
        e_short = self.short_range(torch.cat([h, q[:, None]], dim=1), s)  # (N,) from (h_i, q_i)
        return {"short": e_short, "elec": e_elec, "charges": q}

    def energies_and_charges(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Atomic energies (N,) and charges (N,) from one pass (training on both)."""
        if self.head is None:
            raise TypeError("this MessagePassingPotential predicts no charges: build it with charges='direct' or "
                            "charges='qeq' to train on reference charges")
        terms = self.energy_terms(batch)
        return terms["short"] + terms["elec"], terms["charges"]

    def charges(self, batch: Batch) -> Tensor:
        """The model's atomic charges (N,) in e."""
        return self.energies_and_charges(batch)[1]

    def forward(self, batch: Batch) -> Tensor:
        terms = self.energy_terms(batch)
        return terms["short"] + terms["elec"]  # (N,)

    @torch.no_grad()
    def fit_energy_shift(self, structures: Sequence[Atoms], batch_size: int = 64) -> Tensor:
        """Per-element offsets e_Z: least squares of E_ref - E_elec (initial charges) on the element
        counts, so the networks start near the right energies. :func:`minnp.train.fit` calls it."""
        device, dtype = self.shift_fitted.device, self.short_range.offset.dtype
        targets = [] if self.head is not None else [a.get_potential_energy() for a in structures]
        for start in range(0, len(structures) if self.head is not None else 0, batch_size):
            part = structures[start:start + batch_size]
            batch = atoms_to_batch(part, device=device, dtype=dtype)
            e_elec = sum_per_structure(self.energy_terms(batch)["elec"], batch)  # (B,)
            targets += [a.get_potential_energy() - float(e) for a, e in zip(part, e_elec)]
        self.shift_fitted.fill_(True)
        return self.short_range.fit_offset(structures, targets)

    def extra_repr(self) -> str:
        return f"charges={self.charge_model!r}, receptive_field={self.descriptor.receptive_field:g} Å"
