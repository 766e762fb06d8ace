"""An E(3)-equivariant message-passing network in the style of NequIP (notebook 14).

Batzner et al., Nat. Commun. 13, 2453 (2022) (NequIP); Schütt, Unke, Gastegger, ICML 2021
(PaiNN); irreps and tensor products from e3nn (Geiger & Smidt, arXiv:2207.09453, MIT licence).

Every atom i carries features h_i made of *irreducible representations* ("irreps") of the
rotation group: C scalars (l = 0, invariant), C vectors (l = 1, three components each) and C
rank-2 tensors (l = 2, five components), up to ``l_max``. Under a rotation (or reflection) R of
the whole structure each l-block of h_i is multiplied by a Wigner matrix D^l(R) of size
(2l+1) x (2l+1); for l = 1 that is R itself (e3nn ≥ 0.5 orders the components x, y, z).
Everything the network does is built to keep that property (equivariance):

    Y^l(r̂_ij)              spherical harmonics of the bond direction: the bond's own l-blocks
    R(r_ij) = MLP(B(r_ij))  radial weights from a Bessel basis B times DimeNet's polynomial
                            envelope (:mod:`minnp.models.radial`, shared with notebook 13)
                            (invariant: the network's only learned dependence on distances)
    m_i   = (1/√n̄) Σ_j  R(r_ij) · ( h_j ⊗ Y(r̂_ij) )            NequIP's convolution
    h_i  <- Linear(h_i) + Gate(Linear(m_i))                      self-connection + update

⊗ is the Clebsch–Gordan tensor product: the block l1 of h_j and the block l2 of Y combine into
every l3 with |l1 - l2| ≤ l3 ≤ l1 + l2 (here kept only up to ``l_max`` and with the parity
(-1)^l3 of a polar tensor), weighted channel by channel ("uvu") by the radial network. Linear
layers mix channels within one l, never across l (that would break equivariance). The gate
nonlinearity applies SiLU to scalars and multiplies each l > 0 channel by a sigmoid of its own
extra scalar: a nonlinearity on a vector's length, not its direction.

The last layer keeps only scalars, h_i (N, C): :class:`EquivariantFeatures` is a (learned)
descriptor like notebook 13's SchNet, and the same
:class:`~minnp.models.message_passing.MessagePassingPotential` turns it into a potential: a small
per-element network of h_i plus a per-element offset, optionally with a Qeq charge head,

    E = Σ_i [ NN_{Z_i}(h_i) + e_{Z_i} ] (+ ½ qᵀMq),     F = -∂E/∂x  (autograd, :func:`minnp.compute`)

so the energy is invariant and the forces equivariant by construction. With ``total_charge=True``
the structure's total charge Q enters the first scalars, h_i⁰ = a_{Z_i} + Q·w
(:class:`~minnp.models.charge_heads.TotalChargeEmbedding`, as in notebook 13's SchNet): Q is a
scalar, so equivariance is untouched, and the messages carry it. ``l_max = 0`` gives the
invariant network: the same code with scalars only, whose messages see distances and nothing
else (SchNet-like); ``l_max = 1, 2`` add vector and tensor features. Pairs are vectorised
(one tensor product over all bonds, ``index_add`` back to the centres); periodic cells work
through the same neighbour list as every other model.

    >>> from minnp.models import MessagePassingPotential
    >>> model = MessagePassingPotential(EquivariantFeatures(["H", "C", "O"], l_max=2), hidden=(16,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate

from minnp.batch import Batch
from minnp.models.charge_heads import TotalChargeEmbedding
from minnp.models.message_passing import LearnedFeatures
from minnp.models.radial import bessel_basis, polynomial_envelope
from minnp.neighbors import Neighbors

Tensor = torch.Tensor
__all__ = ["EquivariantFeatures", "hidden_irreps", "wigner_D"]


def hidden_irreps(channels: int, l_max: int) -> o3.Irreps:
    """C copies of each l = 0..l_max with a polar tensor's parity (0e, 1o, 2e): '16x0e+16x1o+16x2e'."""
    return o3.Irreps([(channels, (l, (-1) ** l)) for l in range(l_max + 1)])


def wigner_D(irreps: o3.Irreps | str, R: Tensor) -> Tensor:
    """The block-diagonal matrix D(R) (dim, dim) by which features laid out as ``irreps`` transform
    under the orthogonal 3x3 matrix R, in R's dtype (a reflection, det R = -1, multiplies each
    block by its parity): features of the rotated structure are ``h @ wigner_D(irreps, R).T``."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(R.dtype)  # e3nn builds its tables in the default dtype
    try:
        return o3.Irreps(irreps).D_from_matrix(R)
    finally:
        torch.set_default_dtype(default)


class Interaction(torch.nn.Module):
    """One NequIP layer: h (N, irreps_in) -> h (N, irreps_out) through messages along the bonds."""

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps, n_basis: int,
                 radial_hidden: int, average_neighbors: float):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.average_neighbors = float(average_neighbors)
        # the tensor product h_j ⊗ Y(r̂_ij): every allowed (l1, l2) -> l3 path with l3 in irreps_out
        wanted = {ir for _, ir in self.irreps_out}
        irreps_mid, instructions = [], []
        for i1, (mul, ir1) in enumerate(self.irreps_in):
            for i2, (_, ir2) in enumerate(irreps_sh):
                for ir3 in ir1 * ir2:  # |l1 - l2| ... l1 + l2, parity p1 p2
                    if ir3 in wanted:
                        instructions.append((i1, i2, len(irreps_mid), "uvu", True))  # channel by channel
                        irreps_mid.append((mul, ir3))
        self.tensor_product = o3.TensorProduct(self.irreps_in, irreps_sh, o3.Irreps(irreps_mid), instructions,
                                               shared_weights=False, internal_weights=False)
        # the radial network: one weight per channel and path for every bond, from its distance
        self.radial = FullyConnectedNet([n_basis, radial_hidden, self.tensor_product.weight_numel],
                                        torch.nn.functional.silu)
        # gate: SiLU on scalars; each l > 0 channel times sigmoid of an extra scalar of its own
        scalars = o3.Irreps([(mul, ir) for mul, ir in self.irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in self.irreps_out if ir.l > 0])
        gates = o3.Irreps([(mul, "0e") for mul, _ in gated])
        self.gate = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid] * len(gates), gated)
        self.linear_message = o3.Linear(self.tensor_product.irreps_out, self.gate.irreps_in)
        self.self_connection = o3.Linear(self.irreps_in, self.gate.irreps_out)

    def forward(self, h: Tensor, Y: Tensor, radial: Tensor, i: Tensor, j: Tensor) -> Tensor:
        """h (N, dim_in), Y (P, dim_sh), radial basis × cutoff (P, n_basis), pairs i, j (P,)."""
        weights = self.radial(radial)  # (P, weight_numel)
        messages = self.tensor_product(h[j], Y, weights)  # (P, dim_mid): h_j ⊗ Y(r̂_ij)
        m = messages.new_zeros(h.shape[0], messages.shape[1]).index_add(0, i, messages)  # (N, dim_mid) Σ_j
        m = m / math.sqrt(self.average_neighbors)
        return self.self_connection(h) + self.gate(self.linear_message(m))  # (N, dim_out)


class EquivariantFeatures(LearnedFeatures):
    """Learned invariant atom features (N, C): the scalars after ``n_interactions`` NequIP layers.

    A (learned) :class:`~minnp.descriptors.Descriptor`, like notebook 13's
    :class:`~minnp.models.message_passing.SchNet`, so the same
    :class:`~minnp.models.message_passing.MessagePassingPotential` reads energies (and, with
    ``charges="qeq"``, charges) out of it and the checkpoint stores it.

    ``r_cut`` (Å): every layer's neighbour cutoff; ``n_features``: C, channels of each l;
    ``l_max``: 0 (invariant), 1 or 2; ``n_interactions``: layers (receptive field n · r_cut; l > 0
    features reach the energy only with ≥ 2 layers); ``n_basis``: Bessel functions;
    ``radial_hidden``: width of the radial networks; ``average_neighbors``: n̄, the typical
    neighbour count that normalises the message sum; ``total_charge``: add Q·w to the embedding
    (a model that must tell Ag3⁺ from Ag3⁻ without a charge head).

    >>> net = EquivariantFeatures(["H", "C", "O"], r_cut=4.0, n_features=8, l_max=2)
    >>> net.get_number_of_features()
    8
    """

    def __init__(self, species: Sequence[str | int], r_cut: float = 4.0, n_features: int = 16, l_max: int = 2,
                 n_interactions: int = 2, n_basis: int = 8, radial_hidden: int = 16, average_neighbors: float = 8.0,
                 total_charge: bool = False, periodic: bool = True, dtype: torch.dtype = torch.float64):
        super().__init__(species, periodic)
        if not (isinstance(r_cut, (int, float)) and math.isfinite(r_cut) and r_cut > 0):
            raise ValueError(f"r_cut must be a positive distance in Å, got {r_cut!r}: e.g. r_cut=4.0")
        if l_max not in (0, 1, 2, 3):
            raise ValueError(f"l_max must be 0 (invariant features only), 1, 2 or 3, got {l_max!r}")
        for name, value in (("n_features", n_features), ("n_interactions", n_interactions), ("n_basis", n_basis),
                            ("radial_hidden", radial_hidden)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
        if not average_neighbors > 0:
            raise ValueError(f"average_neighbors must be positive (a typical neighbour count), got {average_neighbors!r}")
        self.cutoff, self.n_features, self.l_max = float(r_cut), n_features, l_max
        self.n_interactions, self.n_basis, self.radial_hidden = n_interactions, n_basis, radial_hidden
        self.average_neighbors, self.total_charge = float(average_neighbors), bool(total_charge)
        self.irreps_sh = o3.Irreps.spherical_harmonics(l_max)  # 1x0e+1x1o+1x2e: the bond's l-blocks
        self.irreps_hidden = hidden_irreps(n_features, l_max)  # Cx0e+Cx1o+Cx2e
        self.embedding = torch.nn.Parameter(torch.randn(self.n_species, n_features))  # (S, C) h⁰ = a_Z
        self.charge_embedding = TotalChargeEmbedding(n_features) if self.total_charge else None  # h⁰ + Q·w
        scalars = o3.Irreps(f"{n_features}x0e")
        # the last layer only needs the scalars the energy reads
        irreps = [scalars] + [self.irreps_hidden] * (n_interactions - 1) + [scalars]
        self.interactions = torch.nn.ModuleList(
            Interaction(irreps[k], irreps[k + 1], self.irreps_sh, n_basis, radial_hidden, self.average_neighbors)
            for k in range(n_interactions))
        self.to(dtype)

    def config(self) -> dict:
        return {"species": self.species_symbols, "r_cut": self.cutoff, "n_features": self.n_features,
                "l_max": self.l_max, "n_interactions": self.n_interactions, "n_basis": self.n_basis,
                "radial_hidden": self.radial_hidden, "average_neighbors": self.average_neighbors,
                "total_charge": self.total_charge, "periodic": self.periodic}

    @property
    def feature_irreps(self) -> list[o3.Irreps]:
        """How the l-blocks of each entry of :meth:`layer_features` are laid out: the embedding's C
        scalars, then each layer's output ('16x0e+16x1o+16x2e', ..., the last one scalars only)."""
        return [o3.Irreps(f"{self.n_features}x0e")] + [layer.irreps_out for layer in self.interactions]

    def layer_features(self, batch: Batch, nbrs: Neighbors | None = None, vectors: Tensor | None = None) -> list[Tensor]:
        """h after the embedding and after each layer, [(N, dim_k)], laid out as :attr:`feature_irreps`."""
        nbrs = self.neighbors(batch) if nbrs is None else nbrs
        s = self.species_index(batch)  # (N,)
        r_ij = nbrs.vectors(batch) if vectors is None else vectors  # (P, 3)
        r = torch.linalg.vector_norm(r_ij, dim=1)  # (P,)
        Y = o3.spherical_harmonics(self.irreps_sh, r_ij, normalize=True, normalization="component")  # (P, (l_max+1)²)
        radial = bessel_basis(r, self.cutoff, self.n_basis) * polynomial_envelope(r, self.cutoff)[:, None]  # (P, K)
        h = self.embedding[s]  # (N, C)
        if self.charge_embedding is not None:
            h = self.charge_embedding(h, batch)  # (N, C) a_Z + Q·w: Q is invariant, so h⁰ stays scalars
        out = [h]
        for interaction in self.interactions:
            h = interaction(h, Y, radial, nbrs.i, nbrs.j)  # (N, dim_k)
            out.append(h)
        return out

    def features(self, batch: Batch, nbrs: Neighbors, vectors: Tensor | None = None) -> Tensor:
        """The last layer's scalars (N, C): invariant, so an energy read from them is too."""
        return self.layer_features(batch, nbrs, vectors)[-1]

    def extra_repr(self) -> str:
        return (f"species={self.species_symbols}, r_cut={self.cutoff}, l_max={self.l_max}, "
                f"hidden={self.irreps_hidden}, n_interactions={self.n_interactions}, total_charge={self.total_charge}")
