"""SNAP bispectrum descriptors from LAMMPS, a network trained on them, and LAMMPS' ``mliap model nn``.

Notebook 15 uses it to take a learned potential to LAMMPS without plugins. The descriptor is
LAMMPS' own (Thompson et al., J. Comp. Phys. 285, 316 (2015)): for atom i the neighbour density
within r_cut = rcutfac (R_i + R_j), weighted by w_j and a cosine switch, is expanded in
hyperspherical harmonics U^j_{m,m'}, and the K bispectrum components

    B_i,(j1 j2 j) = Σ (u^j_{m,m'})* H^{j m m'}_{j1 m1 m1', j2 m2 m2'} u^j1_{m1,m1'} u^j2_{m2,m2'}

(j1, j2, j ≤ twojmax/2, K = 14 for twojmax = 4, 30 for 6) are rotation invariant. LAMMPS
computes them and their derivatives with ``compute snap ... bikflag 1 dgradflag 1``
(FitSNAP's route): a global array whose first N rows are B_i (N, K) and whose next 3N² rows
are -∂B_i/∂x_j^a (minus: the sign of a force, checked against finite differences), one row
per (i, j, a). :class:`SNAPDescriptor` turns them into minnp's pair
Jacobian, J_p = ∂B_{i_p}/∂x_{j_p} for every pair i ≠ j (periodic images of j summed), which is
all :meth:`minnp.models.HDNNP.energies_and_forces` needs: by translation invariance
∂B_i/∂x_i = -Σ_{j≠i} J_(ij), so

    F_a = -Σ_i (∂E/∂B_i) ∂B_i/∂x_a = Σ_{p: i_p=a} (∂E/∂B_a) J_p - Σ_{p: j_p=a} (∂E/∂B_{i_p}) J_p.

An :class:`~minnp.models.HDNNP` on this descriptor trains with :func:`minnp.train.fit` as on
ACSF (descriptors computed once). :func:`write_mliap` writes the two files of LAMMPS'
``pair_style mliap model nn <model> descriptor sna <descriptor>`` (formats of
``src/ML-IAP/mliap_model_nn.cpp`` and ``mliap_descriptor_snap.cpp``):

    model:  nelements nparams
            NET K n_layers tanh h1 tanh h2 linear 1
            then per element: K means, K standard deviations, the parameters layer by layer,
            node by node: bias, then its weights (at most 30 numbers a line)

LAMMPS scales inputs exactly as :class:`~minnp.models.networks.ElementNetworks` does,
(B - μ)/s, so μ and s are written as they are; the per-element energy offset e_Z joins the
last layer's bias. ML-IAP's activations are linear, sigmoid, tanh and relu: of minnp's, only
tanh has a counterpart, and only a tanh network can be written. Numbers are written with
``repr``, so LAMMPS reads the same float64 values.

Stress is not available from this descriptor in minnp (LAMMPS gives it: :func:`minnp.lammps.evaluate`).
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from minnp.batch import Batch
from minnp.descriptors.base import Descriptor
from minnp.lammps.run import (
    LammpsPotential,
    atom_types,
    box_commands,
    import_lammps,
    lammps_frame,
    new_lammps,
)
from minnp.neighbors import Neighbors

Tensor = torch.Tensor
MAX_ATOMS = 512  # compute snap's dgradflag array has N + 3N² rows: 0.8 M rows at 512 atoms


def bispectrum_indices(twojmax: int) -> list[tuple[int, int, int]]:
    """(2j1, 2j2, 2j) of each bispectrum component, in LAMMPS' column order."""
    return [(j1, j2, j) for j1 in range(twojmax + 1) for j2 in range(j1 + 1)
            for j in range(j1 - j2, min(twojmax, j1 + j2) + 1, 2) if j >= j1]


class SNAPDescriptor(Descriptor):
    """LAMMPS' SNAP bispectrum components B_i (N, K) and their pair Jacobian, computed by LAMMPS.

    ``rcutfac``, ``twojmax``, ``rfac0``, ``rmin0``, per-species ``radelem`` R (default 0.5, so
    r_cut = rcutfac) and ``weights`` w (default 1) as in ``compute snap``; switchflag and
    bzeroflag are 1 (LAMMPS' defaults: B of an isolated atom is subtracted).
    """

    def __init__(self, species: Sequence[str | int], rcutfac: float = 4.5, twojmax: int = 4,
                 rfac0: float = 0.99363, rmin0: float = 0.0, radelem: Sequence[float] | None = None,
                 weights: Sequence[float] | None = None, periodic: bool = True):
        super().__init__(species, periodic)
        if not periodic:
            raise ValueError("SNAPDescriptor runs LAMMPS on periodic cells only (periodic=True); "
                             "put a cluster in a large periodic box")
        if twojmax < 0 or int(twojmax) != twojmax:
            raise ValueError(f"twojmax must be a non-negative integer, got {twojmax!r}")
        n = self.n_species
        self.rcutfac, self.twojmax = float(rcutfac), int(twojmax)
        self.rfac0, self.rmin0 = float(rfac0), float(rmin0)
        self.radelem = [0.5] * n if radelem is None else [float(r) for r in radelem]
        self.weights = [1.0] * n if weights is None else [float(w) for w in weights]
        if len(self.radelem) != n or len(self.weights) != n:
            raise ValueError(f"radelem and weights need one value per species {self.species_symbols}")
        self.cutoff = 2 * self.rcutfac * max(self.radelem)

    def config(self) -> dict:
        return {"species": self.species_symbols, "rcutfac": self.rcutfac, "twojmax": self.twojmax,
                "rfac0": self.rfac0, "rmin0": self.rmin0, "radelem": self.radelem, "weights": self.weights}

    def get_number_of_features(self) -> int:
        return len(bispectrum_indices(self.twojmax))

    def feature_names(self) -> list[str]:
        return [f"B[{j1}/2,{j2}/2,{j}/2]" for j1, j2, j in bispectrum_indices(self.twojmax)]

    # ---- LAMMPS ----------------------------------------------------------------------------------

    def compute_command(self) -> str:
        numbers = " ".join(repr(x) for x in self.radelem + self.weights)
        return (f"compute snap all snap {self.rcutfac!r} {self.rfac0!r} {self.twojmax} {numbers} "
                f"rmin0 {self.rmin0!r} switchflag 1 bzeroflag 1 bikflag 1 dgradflag 1")

    def parameter_file_text(self) -> str:
        """The ``descriptor sna`` file of ``pair_style mliap`` with these same settings."""
        return "\n".join([
            "# SNAP descriptor for pair_style mliap, written by minnp", f"rcutfac {self.rcutfac!r}",
            f"twojmax {self.twojmax}", f"nelems {self.n_species}", f"elems {' '.join(self.species_symbols)}",
            f"radelems {' '.join(repr(r) for r in self.radelem)}",
            f"welems {' '.join(repr(w) for w in self.weights)}",
            f"rfac0 {self.rfac0!r}", f"rmin0 {self.rmin0!r}", "switchflag 1", "bzeroflag 1"]) + "\n"

    def compute(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """B (N, K) and ∂B_i/∂x_j as (N_i, N_j, K, 3), from LAMMPS, in the structure's own frame."""
        n, k = len(atoms), self.get_number_of_features()
        if n > MAX_ATOMS:
            raise ValueError(f"a structure of {n} atoms: compute snap with dgradflag lists all "
                             f"3N² = {3 * n * n} atom pairs, too many above {MAX_ATOMS} atoms. Train on "
                             "smaller cells, and run large systems in LAMMPS itself (minnp.lammps.export, "
                             "then run_md or evaluate)")
        lammps = import_lammps()
        rotated, rotation = lammps_frame(atoms)
        types = atom_types(atoms, self.species_symbols)
        lmp = new_lammps(["ML-SNAP"])
        try:
            lmp.commands_list(box_commands(rotated.cell.array, self.n_species))
            lmp.create_atoms(n, list(range(1, n + 1)), types.tolist(), rotated.positions.ravel().tolist())
            lmp.commands_list([f"mass {t + 1} 1.0" for t in range(self.n_species)]
                              + [f"pair_style zero {self.cutoff!r}", "pair_coeff * *", self.compute_command(),
                                 "thermo_style custom step pe", "run 0"])
            array = lmp.numpy.extract_compute("snap", lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_ARRAY)
            array = np.array(array)
        finally:
            lmp.close()
        if array.shape != (n + 3 * n * n + 1, k + 3):
            raise RuntimeError(f"compute snap returned an array of shape {array.shape}, expected "
                               f"({n + 3 * n * n + 1}, {k + 3}) for {n} atoms and {k} components")
        B = array[:n, 3:]  # (N, K)
        rows = array[n:n + 3 * n * n]  # (3N², 3 + K): i, j, a, ∂B_i/∂x_j^a
        i, j, a = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2].astype(int)
        dB = np.zeros((n, n, k, 3))
        dB[i, j, :, a] = -rows[:, 3:]  # LAMMPS lists -∂B_i/∂x_j (the sign of a force, as FitSNAP uses it)
        return B, dB @ rotation.T  # gradients rotate back: ∂B/∂x = (∂B/∂x') Rᵀ

    def pair_jacobian(self, batch: Batch, nbrs=None) -> tuple[Tensor, Neighbors, Tensor]:
        """B (N, K), the pairs i ≠ j with a non-zero ∂B_i/∂x_j, and J (P, K, 3), from LAMMPS."""
        G, i, j, J = [], [], [], []
        start = 0
        for atoms in batch.to_atoms():
            B, dB = self.compute(atoms)
            pairs = np.argwhere((np.abs(dB).sum(axis=(2, 3)) > 0) & ~np.eye(len(atoms), dtype=bool))  # (P, 2)
            G.append(B)
            i.append(pairs[:, 0] + start)
            j.append(pairs[:, 1] + start)
            J.append(dB[pairs[:, 0], pairs[:, 1]])
            start += len(atoms)

        def as_tensor(x, dtype=batch.dtype):
            return torch.as_tensor(np.concatenate(x), dtype=dtype, device=batch.device)

        i, j = as_tensor(i, torch.long), as_tensor(j, torch.long)
        nbrs = Neighbors(i, j, torch.zeros(len(i), 3, dtype=batch.dtype, device=batch.device), self.cutoff)
        return as_tensor(G), nbrs, as_tensor(J)

    def features(self, batch: Batch, nbrs=None, vectors: Tensor | None = None) -> Tensor:
        if vectors is not None:
            raise ValueError("SNAPDescriptor features come from LAMMPS and cannot take pair vectors; "
                             "use pair_jacobian for derivatives")
        return self.forward(batch)

    def forward(self, batch: Batch) -> Tensor:
        """B (N, K), differentiable in positions through LAMMPS' Jacobian (not in the cell: no stress)."""
        if batch.cell.requires_grad:
            raise NotImplementedError("stress is not available for SNAPDescriptor models in minnp: ask for "
                                      "energy and forces, or get the stress from LAMMPS "
                                      "(minnp.lammps.evaluate)")
        if not batch.positions.requires_grad:
            with torch.no_grad():
                G, _, _ = self.pair_jacobian(batch)
            return G
        G, nbrs, J = self.pair_jacobian(batch)
        return _LammpsFeatures.apply(batch.positions, G, nbrs.i, nbrs.j, J)

    def extra_repr(self) -> str:
        return f"species={self.species_symbols}, rcutfac={self.rcutfac}, twojmax={self.twojmax}"


class _LammpsFeatures(torch.autograd.Function):
    """B(x) with its gradient from the pair Jacobian: ∂L/∂x_j += J_p·∂L/∂B_i, ∂L/∂x_i -= J_p·∂L/∂B_i."""

    @staticmethod
    def forward(ctx, positions, G, i, j, J):
        ctx.save_for_backward(i, j, J)
        ctx.n_atoms = positions.shape[0]
        return G.clone()

    @staticmethod
    def backward(ctx, grad_G):
        i, j, J = ctx.saved_tensors
        g = torch.einsum("pf,pfc->pc", grad_G[i], J)  # (P, 3)
        grad = g.new_zeros(ctx.n_atoms, 3).index_add(0, j, g).index_add(0, i, -g)
        return grad, None, None, None, None


# --- the mliap model nn file --------------------------------------------------------------------

def _rows(values, per_line: int = 30) -> list[str]:
    values = [repr(float(v)) for v in values]
    return [" ".join(values[k:k + per_line]) for k in range(0, len(values), per_line)]


def mliap_model_text(model) -> str:
    """The ``mliap model nn`` file of an HDNNP on a :class:`SNAPDescriptor` (tanh networks only)."""
    if not isinstance(getattr(model, "descriptor", None), SNAPDescriptor):
        kind = type(getattr(model, "descriptor", None)).__name__
        raise TypeError(f"LAMMPS' mliap runs networks on its own descriptors: this {type(model).__name__} "
                        f"has {kind}; build the HDNNP on a SNAPDescriptor")
    elements = model.elements
    networks = list(elements.networks)
    layers = [m for m in networks[0] if isinstance(m, torch.nn.Linear)]
    activations = [type(m) for m in networks[0] if not isinstance(m, torch.nn.Linear)]
    if any(a is not torch.nn.Tanh for a in activations):
        raise ValueError(f"ML-IAP's model nn knows the activations linear, sigmoid, tanh and relu; this "
                         f"network uses {sorted({a.__name__ for a in activations})}: train it with "
                         "activation='tanh'")
    K = model.descriptor.get_number_of_features()
    shape = [("tanh", layer.out_features) for layer in layers[:-1]] + [("linear", 1)]
    n_params = sum(layer.weight.numel() + layer.bias.numel() for layer in layers)
    comment = ("# mliap model nn, written by minnp: per element the input means, standard deviations, "
               "then bias and weights of each node")
    lines = [comment, f"{len(networks)} {n_params}",
             f"NET {K} {len(shape)} " + " ".join(f"{act} {width}" for act, width in shape)]
    for k, network in enumerate(networks):
        lines += _rows(elements.input_mean[k].tolist()) + _rows(elements.input_std[k].tolist())
        linears = [m for m in network if isinstance(m, torch.nn.Linear)]
        params = []
        for depth, layer in enumerate(linears):
            bias = layer.bias.detach().double().cpu().numpy().copy()  # (out,)
            if depth == len(linears) - 1:
                bias += float(elements.offset[k])  # e_Z joins the output bias
            weight = layer.weight.detach().double().cpu().numpy()  # (out, in)
            params.append(np.concatenate([bias[:, None], weight], axis=1).ravel())  # per node: bias, weights
        lines += _rows(np.concatenate(params))
    return "\n".join(lines) + "\n"


def write_mliap(model, folder, name: str = "minnp") -> LammpsPotential:
    """Write ``name.mliap.model`` and ``name.mliap.descriptor`` in ``folder``; the LAMMPS potential."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_file, descriptor_file = folder / f"{name}.mliap.model", folder / f"{name}.mliap.descriptor"
    model_file.write_text(mliap_model_text(model))
    descriptor_file.write_text(model.descriptor.parameter_file_text())
    symbols = model.descriptor.species_symbols
    return LammpsPotential(f"mliap model nn {model_file} descriptor sna {descriptor_file}",
                           [f"* * {' '.join(symbols)}"], symbols, [model_file, descriptor_file])
