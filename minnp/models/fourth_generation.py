"""Third- and fourth-generation network potentials: atomic charges, electrostatics, charge transfer.

Notebook 10 trains both and compares them with a second-generation HDNNP (:mod:`.hdnnp`).
Ko, Finkler, Goedecker & Behler, Nat. Commun. 12, 398 (2021) (4G); Artrith, Morawietz & Behler,
Phys. Rev. B 83, 153101 (2011) (3G).

A second-generation network (2G) writes the energy as a sum of atomic energies that see only the
atom's neighbourhood within r_cut. Two ways to add long-range physics on top, both

    E = E_elec(q) + Σ_i E_short,i          E_elec = ½ qᵀ M q   (Gaussian charges, widths σ_i)

with M the Coulomb matrix of :mod:`minnp.electrostatics` (the Gaussian self energy on its
diagonal) and σ_i fixed per element (covalent radii by default):

3G  the charges come straight from per-element networks on the descriptor, q_i = NN_q(G_i), and
    E_short,i = NN_E(G_i). Each charge sees only its own neighbourhood, and nothing makes the
    charges add up to the structure's total charge: a 3G network cannot tell C10H2 from C10H3+
    at the end of the chain far from the extra proton, nor Ag3+ from Ag3- at all.

4G  per-element networks predict electronegativities χ_i = NN_χ(G_i); with one trainable
    hardness J per element (J = softplus(a) > 0) the charges follow from charge equilibration
    (:mod:`minnp.electrostatics.qeq`), a global linear solve with Σq = Q_tot. The short-range
    networks see the charge too, E_short,i = NN_E(G_i, q_i). χ and J only produce the charges;
    they are not part of E.

Training in two stages (:meth:`~ChargeNetworkPotential.set_stage`, then :func:`minnp.train.fit`):

1. ``"charges"``: the charge part (NN_q, or NN_χ and J) against reference atomic charges,
   ``fit(model, ..., energy_weight=0, force_weight=0, charge_weight=1)``; for 4G the gradients
   flow through the linear solve.
2. ``"energies"``: the charge part frozen, the short-range networks fitted to energies and
   forces. With E_elec fixed, fitting E to E_ref is fitting E_short to E_ref - E_elec.

Forces always come from autograd through everything: the descriptor, the charges (4G: through
the solve, ∂q/∂x) and the Coulomb matrix. E_short depends on q, so ∂q/∂x matters; leaving it
out gives wrong forces (tests/test_fourth_generation.py checks against finite differences).

The atomic networks are the HDNNP's :class:`~minnp.models.networks.ElementNetworks`: per-element
input scaling (training split only; a constant input keeps scale 1) with the training range (an
:class:`~minnp.models.networks.ExtrapolationWarning` outside it) and an energy shift (least
squares on the element counts, here of E_ref - E_elec); unlike a 2G network's, their inputs are
more than the descriptor (the 4G short-range input is (G_i, q_i)). Models save and load with
:mod:`minnp.checkpoint` (``model.save(path)``, ``FourthGeneration.load(path)``), stage included.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from ase import Atoms
from ase.data import chemical_symbols

from minnp.batch import Batch, atoms_to_batch, sum_per_structure
from minnp.checkpoint import Checkpointable
from minnp.descriptors.base import Descriptor
from minnp.electrostatics.qeq import matrix_potential, padded_coulomb_matrices, solve_qeq
from minnp.models.charge_heads import gaussian_widths, inverse_softplus
from minnp.models.networks import ElementNetworks

Tensor = torch.Tensor
STAGES = ("charges", "energies")


class ChargeNetworkPotential(Checkpointable, torch.nn.Module):
    """What 3G and 4G share: E = E_elec(q) + Σ_i E_short,i, Gaussian widths, two training stages.

    Subclasses say which per-element networks make the charges (:meth:`charge_elements`), how
    (:meth:`charges_from`), which parameters that trains (:meth:`charge_parameters`) and what the
    short-range networks see (:meth:`short_range_inputs`).
    """

    short_range_extra_inputs = 0  # inputs of E_short beyond the descriptor
    short_range_input_names = "descriptor features"

    def __init__(self, descriptor: Descriptor, sigma: Mapping[str, float] | None = None,
                 hidden: Sequence[int] = (15, 15), activation: str = "tanh", accuracy: float = 1e-8,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.descriptor = descriptor
        self.species = list(descriptor.species)  # atomic numbers, ascending
        self.hidden = [int(h) for h in hidden]
        self.activation = activation
        self.accuracy = float(accuracy)
        n_features = descriptor.get_number_of_features()
        self.short_range = ElementNetworks(self.species, n_features + self.short_range_extra_inputs, self.hidden,
                                           activation, inputs=self.short_range_input_names)
        self.register_buffer("sigma", torch.tensor(gaussian_widths(self.species_symbols, sigma)))  # (S,) Å
        self.stage = "charges"
        self.to(dtype)

    def config(self) -> dict:
        """Constructor arguments besides the descriptor (stage included): ``cls(descriptor, **config)``."""
        return {"sigma": dict(zip(self.species_symbols, self.sigma.tolist())), "hidden": list(self.hidden),
                "activation": self.activation, "accuracy": self.accuracy, "stage": self.stage}

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    @property
    def warn_extrapolation(self) -> bool:
        """Warn when a structure's inputs leave the training range (in eval mode)."""
        return self.short_range.warn_extrapolation

    @warn_extrapolation.setter
    def warn_extrapolation(self, value: bool) -> None:
        self.short_range.warn_extrapolation = self.charge_elements().warn_extrapolation = bool(value)

    # ---- what a generation defines ------------------------------------------------------------

    def charge_elements(self) -> ElementNetworks:
        """The per-element networks of the charge part (q for 3G, χ for 4G)."""
        raise NotImplementedError

    def charge_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters of the charge part (trained in stage 1, frozen in stage 2)."""
        return list(self.charge_elements().parameters())

    def charges_from(self, batch: Batch, G: Tensor, s: Tensor, matrices: Tensor) -> Tensor:
        """Atomic charges (N,) from the descriptor G (N, F), species s (N,) and the padded
        Coulomb matrices (B, n_max, n_max)."""
        raise NotImplementedError

    def short_range_inputs(self, G: Tensor, q: Tensor) -> Tensor:
        return G

    # ---- the model ----------------------------------------------------------------------------

    def _parts(self, batch: Batch):
        G = self.descriptor(batch)  # (N, F)
        s = self.descriptor.species_index(batch)  # (N,)
        matrices = padded_coulomb_matrices(batch, self.sigma[s], self.accuracy)  # (B, n_max, n_max)
        return G, s, matrices, self.charges_from(batch, G, s, matrices)

    def charges(self, batch: Batch) -> Tensor:
        """The model's atomic charges (N,) in e."""
        return self._parts(batch)[3]

    def energy_terms(self, batch: Batch) -> dict[str, Tensor]:
        """Per-atom ``elec`` and ``short`` energies (N,) in eV and the ``charges`` (N,) in e."""
        G, s, matrices, q = self._parts(batch)
        e_elec = 0.5 * q * matrix_potential(matrices, q, batch)  # (N,) incl. the Gaussian self energy
        e_short = self.short_range(self.short_range_inputs(G, q), s)  # (N,)
        return {"elec": e_elec, "short": e_short, "charges": q}

    def energies_and_charges(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Atomic energies E_i = E_elec,i + E_short,i (N,) and charges q (N,) from one pass
        (training on energies and charges together: :func:`minnp.compute` with ``charges=True``)."""
        terms = self.energy_terms(batch)
        return terms["elec"] + terms["short"], terms["charges"]

    def forward(self, batch: Batch) -> Tensor:
        return self.energies_and_charges(batch)[0]

    # ---- training in two stages ---------------------------------------------------------------

    def set_stage(self, stage: str) -> "ChargeNetworkPotential":
        """``"charges"``: only the charge part trains; ``"energies"``: only the short-range part."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        self.stage = stage
        for p in self.charge_parameters():
            p.requires_grad_(stage == "charges")
        for p in self.short_range.parameters():
            p.requires_grad_(stage == "energies")
        return self

    @property
    def scaling_fitted(self) -> bool:
        """Whether the input scaling of the part the current stage trains has been fitted."""
        return (self.charge_elements() if self.stage == "charges" else self.short_range).scaling_fitted

    def _inputs_of(self, structures: Sequence[Atoms], batch_size: int):
        """Descriptors and species of the training structures and, in stage ``"energies"``, their
        charges and electrostatic energies per structure; no gradients."""
        device, dtype = self.sigma.device, self.sigma.dtype
        G, s, q, e_elec = [], [], [], []
        for start in range(0, len(structures), batch_size):
            batch = atoms_to_batch(structures[start:start + batch_size], device=device, dtype=dtype)
            if self.stage == "charges":
                G.append(self.descriptor(batch))
                s.append(self.descriptor.species_index(batch))
                continue
            terms = self.energy_terms(batch)
            G.append(self.descriptor(batch))  # cached neighbour list: cheap
            s.append(self.descriptor.species_index(batch))
            q.append(terms["charges"])
            e_elec.append(sum_per_structure(terms["elec"], batch))
        if self.stage == "charges":
            return torch.cat(G), torch.cat(s), None, None
        return torch.cat(G), torch.cat(s), torch.cat(q), torch.cat(e_elec)

    @torch.no_grad()
    def fit_scaling(self, structures: Sequence[Atoms], batch_size: int = 64) -> None:
        """Input scaling of the part the current stage trains, from the training structures.

        Stage ``"charges"``: the charge networks' scaling of G. Stage ``"energies"``: the
        short-range networks' scaling of their inputs with the trained charges (the charge part
        is frozen, its scaling left alone). :func:`minnp.train.fit` calls this on its train split.
        """
        G, s, q, _ = self._inputs_of(structures, batch_size)
        if self.stage == "charges":
            self.charge_elements().fit_scaling(G, s)
        else:
            self.short_range.fit_scaling(self.short_range_inputs(G, q), s)

    @torch.no_grad()
    def fit_energy_shift(self, structures: Sequence[Atoms], batch_size: int = 64) -> Tensor | None:
        """Stage ``"energies"``: per-element offsets of E_short, least squares of E_ref - E_elec on
        the element counts (the mean per atom when the counts cannot separate the elements)."""
        if self.stage != "energies":
            return None
        _, _, _, e_elec = self._inputs_of(structures, batch_size)
        target = [a.get_potential_energy() - float(e) for a, e in zip(structures, e_elec)]
        return self.short_range.fit_offset(structures, target)

    def extra_repr(self) -> str:
        sigma = ", ".join(f"{s}: {float(v):.3g} Å" for s, v in zip(self.species_symbols, self.sigma))
        return f"species={self.species_symbols}, sigma={{{sigma}}}, stage={self.stage!r}"


class ThirdGeneration(ChargeNetworkPotential):
    """3G-HDNNP: q_i = NN_q(G_i) (local, no total-charge constraint), E = E_elec(q) + Σ NN_E(G_i).

    >>> from minnp.descriptors import ACSF
    >>> acsf = ACSF(["C", "H"], r_cut=4.0, g2_params=[[0.5, 0.0]], g4_params=[[0.01, 1, 1]])
    >>> model = ThirdGeneration(acsf)
    """

    def __init__(self, descriptor: Descriptor, sigma: Mapping[str, float] | None = None,
                 hidden: Sequence[int] = (15, 15), activation: str = "tanh", accuracy: float = 1e-8,
                 stage: str = "charges", dtype: torch.dtype = torch.float64):
        super().__init__(descriptor, sigma, hidden, activation, accuracy, dtype=dtype)
        self.charge_networks = ElementNetworks(self.species, descriptor.get_number_of_features(),
                                               self.hidden, activation).to(dtype)
        self.set_stage(stage)

    def charge_elements(self):
        return self.charge_networks

    def charges_from(self, batch, G, s, matrices):
        return self.charge_networks(G, s)  # (N,)

    def charges(self, batch: Batch) -> Tensor:
        """q_i = NN_q(G_i), (N,) in e: no Coulomb matrix needed."""
        return self.charge_networks(self.descriptor(batch), self.descriptor.species_index(batch))


class FourthGeneration(ChargeNetworkPotential):
    """4G-HDNNP: χ_i = NN_χ(G_i), one hardness J per element, charges by Qeq with Σq = Q_tot,
    E = E_elec(q) + Σ NN_E(G_i, q_i).

    >>> from minnp.descriptors import ACSF
    >>> acsf = ACSF(["C", "H"], r_cut=4.0, g2_params=[[0.5, 0.0]], g4_params=[[0.01, 1, 1]])
    >>> model = FourthGeneration(acsf, hardness=5.0)
    >>> [round(j, 6) for j in model.hardness.tolist()]
    [5.0, 5.0]
    """

    short_range_extra_inputs = 1  # the atom's charge q_i
    short_range_input_names = "descriptor features or charges"

    def __init__(self, descriptor: Descriptor, sigma: Mapping[str, float] | None = None,
                 hidden: Sequence[int] = (15, 15), activation: str = "tanh", hardness: float = 5.0,
                 accuracy: float = 1e-8, stage: str = "charges", dtype: torch.dtype = torch.float64):
        a = inverse_softplus(hardness, owner="FourthGeneration")
        super().__init__(descriptor, sigma, hidden, activation, accuracy, dtype=dtype)
        self.initial_hardness = float(hardness)
        self.electronegativity = ElementNetworks(self.species, descriptor.get_number_of_features(),
                                                 self.hidden, activation).to(dtype)
        # J = softplus(a) > 0 keeps the Qeq matrix positive definite whatever the optimiser does
        self.hardness_parameter = torch.nn.Parameter(torch.full((len(self.species),), a, dtype=dtype))
        self.set_stage(stage)

    def config(self) -> dict:
        return super().config() | {"hardness": self.initial_hardness}

    @property
    def hardness(self) -> Tensor:
        """J per species (S,), eV/e²."""
        return torch.nn.functional.softplus(self.hardness_parameter)

    def charge_elements(self):
        return self.electronegativity

    def charge_parameters(self):
        return [*self.electronegativity.parameters(), self.hardness_parameter]

    def charges_from(self, batch, G, s, matrices):
        chi = self.electronegativity(G, s)  # (N,) eV/e
        return solve_qeq(matrices, chi, self.hardness[s], batch)[0]

    def short_range_inputs(self, G, q):
        return torch.cat([G, q[:, None]], dim=1)  # (N, F + 1)
