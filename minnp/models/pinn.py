"""Physically informed neural network (PINN): networks set a bond-order potential's parameters atom by atom.

Notebook 12 trains it on DFT silicon and tests it outside its training data. Purja Pun, Batra,
Ramprasad & Mishin, Nat. Commun. 10, 2339 (2019).

An HDNNP maps each atom's descriptor G_i straight to an energy; PINN maps it to the parameters
p_i of an analytical potential and lets the potential compute the energy. Here the potential is
Tersoff's (notebook 02, :func:`minnp.potentials.tersoff.tersoff_energies_per_atom`):

    p_i = p_base ∘ corrections:   u_i,k = u_base,k + δ · tanh(NN_{Z_i,k}((G_i - μ) / s)),
    p_i,k = e^{u_i,k}  (A, B, λ1, λ2, β, n, c, d, λ3 > 0),   cos θ0_i = tanh(u_i)  (|cos θ0| < 1)
    E = Σ_i [E_i^Tersoff({p_i}) + e_{Z_i}]

- p_base: a fitted Tersoff set (:class:`~minnp.potentials.fittable_tersoff.FittableTersoff` refitted to
  the same data, or a published one), u_base its unbounded form (log p, atanh cos θ0).
- NN_{Z,k}: one network per element and per varied parameter k, each in the shared container
  :class:`~minnp.models.networks.ElementNetworks` (scaling fitted on the training split, the
  training range behind the extrapolation warning); their last layer starts small, so the
  untrained PINN is the base potential. With every correction zero it *is* Tersoff.
- δ (``bound``): the largest correction in u. Every atom's parameters stay within a factor e^{±δ}
  of the base set (cos θ0 within ±δ in atanh), whatever the network outputs far outside its
  training data. Positive amplitudes and decay lengths keep the repulsion repulsive and the
  attraction attractive, so the wall at short distance and the bond breaking at the cutoff are
  those of a Tersoff potential. This is the method's promise, made a guarantee here.
- e_Z: a fixed per-element energy shift (DFT energies have an arbitrary zero), fitted by least
  squares of E_DFT - E_base on element counts, as the HDNNP fits its reference energies.

Which parameters vary, and how this differs from the paper. Purja Pun et al. use their own
bond-order form, E_i = ½ Σ_j [e^{A_i - α_i r_ij} - S_ij b_ij e^{B_i - β_i r_ij}] f_c(r_ij)
+ E_i^p with b_ij = (1 + z_ij)^(-1/2), z_ij = a_i² Σ_k S_ik (cos θ_ijk - h_i)² f_c(r_ik), a
screening S_ij and a promotion energy E_i^p = -σ_i (Σ_j S_ij b_ij)^(1/2): eight parameters per
atom (A, B, α, β, a, h, λ, σ), all predicted by the network. Here the form is Tersoff's, and the
varied parameters are their Tersoff counterparts (default :data:`VARIED`): the repulsion A, λ1
(the paper's A_i, α_i), the attraction B, λ2 (B_i, β_i), the bond order's strength β and the
angular terms c, d, cos θ0 (a_i, h_i). There is no screening and no promotion energy; λ3,
n and the cutoff stay at the base values (R, D fix the neighbour list). In the 2019 paper the
networks output the parameters themselves; later PINN potentials (Purja Pun et al., Phys. Rev.
Materials 4, 113807 (2020); Lin, Purja Pun & Mishin, Acta Mater. 2022) add the network's output as a
local correction to a global parameter set fitted first, which is what this model does, with the
bound δ as an extra guarantee.

The defaults and notebook 12's recipe, measured (mlearn Si, notebook 12's split, test RMSE energy
meV/atom / force eV/Å, 60 epochs, one factor changed at a time, on a loaded machine): 16-16
networks, δ = 0.5, mini-batches of 16, energies weighted 100 against forces, on Tersoff refitted
with the same weights: 26.8 / 0.83. Weighting energies 10 instead (PINN and its base set alike):
27.2 / 0.52 (1: 102 / 0.49). Then mini-batches of 8: 27.4 / 0.46 (4: 31.7 / 0.43, 16-16); 32-32
networks: 21.5 / 0.43; 64-64: 18.8 / 0.37; δ = 0.25: 25.3 / 0.34 (64-64; δ = 0.1: 17.7 / 0.35; δ = 1: 28.1 / 0.49 and
δ = 2: 41 / 0.64 with smaller networks). A smaller δ also makes each update a smaller step in the
parameters; these runs do not tell that apart from the tighter bound itself. What did not help: varying
n and λ3 too (28.6 / 0.54), a 5 Å ACSF (30.1 / 0.69), lr 1e-2 (32.4 / 0.79), a slower learning-rate
decay (34.2 / 0.53); twice the epochs helped little (27.9 / 0.48). Defaults: 64-64, δ = 0.25.

Per-bond parameters from per-atom ones. As in the paper, parameters belong to atoms: bond i-j,
its triples i-j-k and its repulsion take the parameters of the centre atom i, so V_ij uses p_i
and V_ji uses p_j; each ordered pair's ½ V_ij is split evenly between i and j as in
:mod:`minnp.potentials.tersoff`. One element only (mixed-element Tersoff entries i-j-k have no
single owner atom); the descriptor's species must be the base's.

Forces and stress come from autograd through the Tersoff energy and, via p_i(G_i), the
descriptor. Training (:func:`minnp.train.fit`) computes each mini-batch's descriptors and their
pair Jacobian ∂G_i/∂r_p once (:meth:`PINN.precompute`), as the HDNNP does; a step then needs
∂E/∂x at fixed parameters plus Σ_p (∂E/∂G_{i_p}) ∂G_{i_p}/∂r_p (:meth:`PINN.energies_and_forces`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from ase.data import chemical_symbols

from minnp.batch import Batch, atoms_to_batch
from minnp.checkpoint import Checkpointable
from minnp.descriptors.base import Descriptor
from minnp.models.hdnnp import FeatureCache
from minnp.models.networks import ElementNetworks
from minnp.potentials.fittable_tersoff import energy_shift, fittable_columns, from_unbounded, to_unbounded
from minnp.potentials.tersoff import FIELDS, Tersoff, TersoffEntry, tersoff_energies_per_atom

Tensor = torch.Tensor
VARIED = ("A", "lambda1", "B", "lambda2", "beta", "c", "d", "costheta0")


@dataclasses.dataclass
class PINNCache(FeatureCache):
    """The HDNNP's :class:`FeatureCache` plus the batch: the Tersoff energy needs the geometry too."""

    batch: Batch


class PINN(Checkpointable, torch.nn.Module):
    """Per-atom Tersoff parameters from per-element networks on a descriptor; energies (N,) in eV.

    >>> from minnp.descriptors import ACSF
    >>> acsf = ACSF(["Si"], r_cut=4.0, g2_params=[[1.0, 0.0]], g4_params=[[0.01, 1, 1]], periodic=True)
    >>> model = PINN(acsf, base=Tersoff.from_name("Si(C)"), hidden=(16,))

    ``base``: a one-element :class:`Tersoff` (its current table) or its 14 numbers in the order of
    :data:`~minnp.potentials.tersoff.FIELDS`; ``varied``: the parameters the networks correct;
    ``bound``: δ, the largest correction of each in u (see the module docstring).
    """

    def __init__(self, descriptor: Descriptor, base: Tersoff | Sequence[float], varied: Sequence[str] = VARIED,
                 hidden: Sequence[int] = (64, 64), bound: float = 0.25, activation: str = "tanh",
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        if isinstance(base, Tersoff):
            if len(base.species) != 1:
                raise ValueError(f"PINN takes a one-element Tersoff base, got species {base.species}: mixed "
                                 "entries i-j-k have no single atom whose parameters they could be")
            if [chemical_symbols.index(base.species[0])] != list(descriptor.species):
                raise ValueError(f"the base Tersoff is for {base.species} but the descriptor describes "
                                 f"{[chemical_symbols[z] for z in descriptor.species]}: use one element for both")
            base = base.parameter_table()[0, 0, 0].tolist()
        base = [float(v) for v in base]
        if len(base) != len(FIELDS):
            raise ValueError(f"base has {len(base)} numbers; a Tersoff entry has {len(FIELDS)}: {', '.join(FIELDS)}")
        if len(descriptor.species) != 1:
            raise ValueError("PINN describes one element; this descriptor has species "
                             f"{[chemical_symbols[z] for z in descriptor.species]}")
        if not (bound > 0):
            raise ValueError(f"bound must be positive (the largest correction in log p), got {bound!r}: e.g. 0.5")
        self.descriptor = descriptor
        self.species = list(descriptor.species)
        self.varied, self.hidden = list(varied), [int(h) for h in hidden]
        self.bound, self.activation = float(bound), activation
        base_tensor = torch.tensor(base, dtype=torch.float64)
        self.register_buffer("base", base_tensor)  # (14,)
        self.register_buffer("columns", torch.tensor(fittable_columns(self.varied, base_tensor, "PINN")))
        self.register_buffer("base_free", to_unbounded(self.varied, base_tensor[self.columns]))  # (k,) u_base
        self.register_buffer("energy_shift", torch.zeros(len(self.species)))  # (S,) e_Z
        self.r_cut = float(base_tensor[FIELDS.index("R")] + base_tensor[FIELDS.index("D")])
        n_features = descriptor.get_number_of_features()
        # one container per varied parameter: each holds one network per element, scaling and range
        self.corrections = torch.nn.ModuleList(
            ElementNetworks(self.species, n_features, self.hidden, activation) for _ in self.varied)
        self.warn_extrapolation = True
        self.to(dtype)

    def config(self) -> dict:
        """Constructor arguments besides the descriptor: ``PINN(descriptor, **model.config())``."""
        return {"base": self.base.tolist(), "varied": list(self.varied), "hidden": list(self.hidden),
                "bound": self.bound, "activation": self.activation}

    @property
    def warn_extrapolation(self) -> bool:
        """Warn when a structure's descriptor leaves the training range (in eval mode)."""
        return self.corrections[0].warn_extrapolation

    @warn_extrapolation.setter
    def warn_extrapolation(self, value: bool) -> None:
        for k, networks in enumerate(self.corrections):  # the inputs are shared: one warning is enough
            networks.warn_extrapolation = bool(value) and k == 0

    @property
    def scaling_fitted(self) -> bool:
        return self.corrections[0].scaling_fitted

    # ---- fitting the fixed parts on the training split ---------------------------------------------

    @torch.no_grad()
    def fit_scaling(self, structures, batch_size: int = 64) -> None:
        """Per-element descriptor mean, std, min and max over the training structures only."""
        G, s = [], []
        for start in range(0, len(structures), batch_size):
            batch = atoms_to_batch(structures[start:start + batch_size], device=self.base.device, dtype=self.base.dtype)
            G.append(self.descriptor(batch))
            s.append(self.descriptor.species_index(batch))
        G, s = torch.cat(G), torch.cat(s)
        for networks in self.corrections:
            networks.fit_scaling(G, s)

    @torch.no_grad()
    def fit_energy_shift(self, structures) -> Tensor:
        """e_Z by least squares of E_DFT - E_base (zero corrections) on the element counts."""
        from minnp.train import predict  # train imports the models, not the other way round

        symbol = chemical_symbols[self.species[0]]
        base = Tersoff([symbol], {(symbol,) * 3: TersoffEntry(*self.base.tolist())})
        energies = predict(base, structures, forces=False)["energy"]  # (B,) eV
        self.energy_shift.copy_(energy_shift(structures, energies, self.species))
        return self.energy_shift

    # ---- the model -----------------------------------------------------------------------------------

    def parameters_per_atom(self, G: Tensor, s: Tensor) -> Tensor:
        """Each atom's Tersoff parameters (N, 14) from its descriptor G (N, F) and species index (N,)."""
        y = torch.stack([networks(G, s) for networks in self.corrections], dim=1)  # (N, k)
        u = self.base_free + self.bound * torch.tanh(y)  # (N, k), within ±δ of the base
        p = self.base.expand(G.shape[0], len(FIELDS))  # (N, 14)
        return p.index_copy(1, self.columns, from_unbounded(self.varied, u))

    def forward(self, batch: Batch) -> Tensor:
        G = self.descriptor(batch)  # (N, F)
        s = self.descriptor.species_index(batch)  # (N,)
        return self.atomic_energies(batch, G, s)

    def atomic_energies(self, batch: Batch, G: Tensor, s: Tensor) -> Tensor:
        """E_i (N,): Tersoff with each atom's parameters p_i(G_i), plus e_{Z_i}."""
        return tersoff_energies_per_atom(batch, self.parameters_per_atom(G, s), self.r_cut) + self.energy_shift[s]

    # ---- training on precomputed descriptors -------------------------------------------------------

    def precompute(self, batch: Batch, derivatives: bool = True) -> PINNCache:
        """Descriptors (N, F) and their pair Jacobian (P, F, 3), once per training mini-batch."""
        s = self.descriptor.species_index(batch)  # (N,)
        if not derivatives:
            with torch.no_grad():
                return PINNCache(self.descriptor(batch), s, None, None, None, batch)
        G, nbrs, jacobian = self.descriptor.pair_jacobian(batch)  # (N, F), pairs, (P, F, 3)
        return PINNCache(G.detach(), s, nbrs.i, nbrs.j, jacobian, batch)

    def energies_and_forces(self, cache: PINNCache, create_graph: bool = False) -> tuple[Tensor, Tensor | None]:
        """Atomic energies (N,) and forces (N, 3) from a :class:`PINNCache`: the numbers of
        ``minnp.compute(model, batch)`` without recomputing the descriptor."""
        if cache.jacobian is None:
            energies = self.atomic_energies(cache.batch, cache.features, cache.species)  # (N,)
            return (energies if create_graph else energies.detach()), None
        G = cache.features.detach().requires_grad_()  # (N, F)
        positions = cache.batch.positions.detach().requires_grad_()  # (N, 3)
        with torch.enable_grad():
            energies = self.atomic_energies(cache.batch.replace(positions=positions), G, cache.species)  # (N,)
            dE_dx, dE_dG = torch.autograd.grad(energies.sum(), (positions, G), create_graph=create_graph)
            # the Tersoff part at fixed parameters, then the parameters' dependence through G_i(r_p)
            dE_dr = torch.einsum("pf,pfc->pc", dE_dG[cache.i], cache.jacobian)  # (P, 3)
            forces = (-dE_dx).index_add(0, cache.i, dE_dr).index_add(0, cache.j, -dE_dr)  # (N, 3)
        if not create_graph:
            energies, forces = energies.detach(), forces.detach()
        return energies, forces

    def extra_repr(self) -> str:
        return f"varied={self.varied}, bound={self.bound}, r_cut={self.r_cut}"
