"""TorchANI as a peer: its AEVs and per-element networks on ASE Atoms, periodic cells included.

TorchANI (PyPI ``torchani``, MIT, pure PyTorch) is a benchmark-only peer: it is imported here,
inside functions, and never by ``minnp``. ``make bench`` installs it (the ``bench`` extra).

What is here, used by ``bench_acsf.py``, ``bench_hdnnp.py`` and the issue-23 table:

- :func:`aev_computer`: TorchANI's ``AEVComputer`` with ANI-1x's functional form
  (Smith et al., Chem. Sci. 8, 3192 (2017), eqs. 3-4): radial terms
  ``0.25 exp(-eta_R (r - R_s)²) f_c(r)``, ``n_radial`` shifts R_s spaced linearly from 0.9 Å to
  the radial cutoff; angular terms
  ``2^(1-zeta) (1 + cos(θ - θ_s))^zeta exp(-eta_A ((r_ij + r_ik)/2 - R_s)²) f_c f_c``, with
  ``n_sections`` angle shifts θ_s × ``n_angular_shifts`` radial shifts; float64.
- :class:`AniBatch`: structures flattened into one "molecule" (TorchANI's ``(1, N)`` layout) with
  a neighbour list made once by TorchANI's own neighbour lists, one structure at a time (each
  has its own cell; TorchANI's periodic lists take one structure per call: called on a batch of
  16 frames that share one cell, its all-pairs list gave AEVs off by up to 0.8), and the periodic
  image shift of every pair, so the pair vectors ``x_i - x_j + shift`` can be rebuilt,
  differentiably, at every training step (``AEVComputer.compute_from_neighbors``).
- :func:`energies_and_forces`: total energies (B,) and forces (N, 3) by autograd through the
  AEVs, as TorchANI trains on forces (``create_graph=True`` for a force loss).
- :func:`torchani_fit`: train an AEV + per-element-network model on lists of Atoms within a
  wall-clock budget and report test errors (the "TorchANI" row beside minnp's network and the
  linear baseline, issue 23).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

Tensor = torch.Tensor
os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")  # the CUDA extensions are not needed on a CPU


def version() -> str:
    import torchani

    return torchani.__version__


def aev_computer(n_species: int, radial_cutoff: float = 5.2, angular_cutoff: float = 3.5, n_radial: int = 16,
                 n_angular_shifts: int = 4, n_sections: int = 8, radial_eta: float = 16.0, angular_eta: float = 8.0,
                 zeta: float = 32.0, start: float = 0.9, neighborlist: str = "adaptive",
                 dtype: torch.dtype = torch.float64):
    """TorchANI's AEVComputer with ANI-1x's terms (defaults: ANI-1x's own numbers), in ``dtype``.

    Features per atom: ``n_radial`` per species + ``n_angular_shifts * n_sections`` per unordered
    species pair. TorchANI requires the angular cutoff to be strictly below the radial one; to
    compare with a descriptor that has one cutoff, pass ``angular_cutoff = radial_cutoff - 1e-9``.
    ``neighborlist``: TorchANI's list when it is called on coordinates ("adaptive": all pairs
    below 190 atoms, its cell list above; "all_pairs"); :class:`AniBatch` makes its own.
    """
    from torchani.aev import AEVComputer, ANIAngular, ANIRadial
    from torchani.utils import linspace

    if not angular_cutoff < radial_cutoff:
        raise ValueError(f"TorchANI needs angular_cutoff < radial_cutoff, got {angular_cutoff} and {radial_cutoff}")
    radial = ANIRadial.cover_linearly(start=start, cutoff=radial_cutoff, eta=radial_eta, num_shifts=n_radial)
    angular = ANIAngular.cover_linearly(start=start, cutoff=angular_cutoff, eta=angular_eta, zeta=zeta,
                                        num_shifts=n_angular_shifts, num_sections=n_sections)
    aev = AEVComputer(radial, angular, num_species=n_species, neighborlist=neighborlist).to(dtype)
    # TorchANI stores its constants in float32; restore them exactly in ``dtype`` (float64 AEVs
    # then agree with minnp's G2 to rounding, not to float32's 1e-7)
    half_section = math.pi / n_sections / 2
    constants = ((aev.radial, {"eta": [radial_eta], "shifts": linspace(start, radial_cutoff, n_radial)}),
                 (aev.angular, {"eta": [angular_eta], "zeta": [zeta],
                                "shifts": linspace(start, angular_cutoff, n_angular_shifts),
                                "sections": linspace(half_section, math.pi + half_section, n_sections)}))
    for term, values in constants:
        for name, value in values.items():
            getattr(term, name).copy_(torch.tensor(value, dtype=dtype))
    return aev


def ani_neighbors(cutoff: float, species: Tensor, coords: Tensor, cell: Tensor | None, pbc: Tensor | None):
    """TorchANI's own neighbour list for one structure (half list: each pair once): all pairs
    below 190 atoms or with periodicity in only some directions, its cell list otherwise (what
    its ``adaptive`` list does)."""
    from torchani.neighbors import all_pairs, cell_list

    full_pbc = pbc is not None and bool(pbc.all())
    if species.shape[1] >= 190 and (pbc is None or full_pbc):
        try:
            return cell_list(cutoff, species, coords, cell, pbc)
        except RuntimeError:  # "cell is too small" for its grid: all pairs handles any cell
            pass
    return all_pairs(cutoff, species, coords, cell, pbc)


def _cell_pbc(atoms: Atoms, dtype) -> tuple[Tensor | None, Tensor | None]:
    """TorchANI's (cell, pbc): None for an isolated structure. TorchANI inverts the cell, so a
    partly periodic structure without a full cell (a slab with a zero vacuum vector) gets unit
    vectors normal to its periodic ones in the non-periodic directions (no images there)."""
    if not atoms.pbc.any():
        return None, None
    cell = np.array(atoms.cell, dtype=float)  # (3, 3)
    if not atoms.pbc.all() and abs(np.linalg.det(cell)) < 1e-9:
        q = np.linalg.qr(cell[atoms.pbc].T)[0]  # (3, n_periodic) orthonormal basis of the periodic plane/line
        for k in np.flatnonzero(~atoms.pbc):
            for e in np.eye(3):  # Gram-Schmidt: the first Cartesian axis not yet spanned
                v = e - q @ (q.T @ e)
                if np.linalg.norm(v) > 1e-6:
                    cell[k] = v / np.linalg.norm(v)
                    q = np.column_stack([q, cell[k]])
                    break
    return torch.tensor(cell, dtype=dtype), torch.tensor(atoms.pbc)


class AniBatch:
    """Structures as one flat TorchANI "molecule" (1, N) with a fixed neighbour list.

    ``species`` (1, N) element index; ``coords`` (1, N, 3); ``pairs`` (2, P) atom indices into the
    flat batch; ``shifts`` (P, 3) so that the pair vector is ``x[p0] - x[p1] + shift`` (TorchANI's
    sign); ``structure`` (N,) which structure each atom belongs to; ``n_atoms`` (B,).
    With labels (``labels=True``): ``energy`` (B,) eV and ``forces`` (N, 3) eV/Å from each
    structure's calculator.
    """

    def __init__(self, structures: Sequence[Atoms], symbols: Sequence[str], cutoff: float,
                 dtype: torch.dtype = torch.float64, labels: bool = False):
        index = {s: k for k, s in enumerate(symbols)}
        species, coords, pairs, shifts, structure = [], [], [], [], []
        offset = 0
        for b, atoms in enumerate(structures):
            unknown = sorted(set(atoms.get_chemical_symbols()) - set(index))
            if unknown:
                raise ValueError(f"structure {b} has species {unknown} that are not among {list(symbols)}")
            s = torch.tensor([index[x] for x in atoms.get_chemical_symbols()])[None]  # (1, n)
            x = torch.tensor(atoms.positions, dtype=dtype)[None]  # (1, n, 3)
            cell, pbc = _cell_pbc(atoms, dtype)
            with torch.no_grad():
                nbrs = ani_neighbors(cutoff, s, x, cell, pbc)
                # the image shift of each pair relative to the positions as given (TorchANI maps
                # atoms into the cell first; the shift absorbs that)
                shift = nbrs.diff_vectors - (x[0, nbrs.indices[0]] - x[0, nbrs.indices[1]])  # (p, 3)
            species.append(s[0]); coords.append(x[0]); pairs.append(nbrs.indices + offset); shifts.append(shift)
            structure.append(torch.full((len(atoms),), b))
            offset += len(atoms)
        self.species = torch.cat(species)[None]  # (1, N)
        self.coords = torch.cat(coords)[None]  # (1, N, 3)
        self.pairs = torch.cat(pairs, dim=1)  # (2, P)
        self.shifts = torch.cat(shifts)  # (P, 3)
        self.structure = torch.cat(structure)  # (N,)
        self.n_atoms = torch.tensor([len(a) for a in structures], dtype=dtype)  # (B,)
        if labels:
            unlabelled = [b for b, a in enumerate(structures) if a.calc is None]
            if unlabelled:
                raise ValueError(f"structures {unlabelled[:10]} have no reference energy and forces: attach them "
                                 "(minnp.data.label(atoms, energy=..., forces=...)) or leave those structures out")
            self.energy = torch.tensor([a.get_potential_energy() for a in structures], dtype=dtype)  # (B,)
            self.forces = torch.tensor(np.concatenate([a.get_forces() for a in structures]), dtype=dtype)  # (N, 3)

    def neighbors(self, coords: Tensor):
        """TorchANI's ``Neighbors`` for ``coords`` (1, N, 3): vectors and distances rebuilt from the
        fixed pairs, so they are differentiable in the positions."""
        from torchani.neighbors import Neighbors

        x = coords[0]
        diff = x.index_select(0, self.pairs[0]) - x.index_select(0, self.pairs[1]) + self.shifts  # (P, 3)
        return Neighbors(self.pairs, diff.norm(dim=1), diff)


def aevs(aev, batch: AniBatch, coords: Tensor | None = None) -> Tensor:
    """AEVs (1, N, F) of a batch from its fixed neighbour list (TorchANI's pure-torch path)."""
    coords = batch.coords if coords is None else coords
    return aev.compute_from_neighbors(batch.species, coords, batch.neighbors(coords))


def energies_and_forces(aev, networks, self_energies: Tensor, batch: AniBatch, forces: bool = True,
                        create_graph: bool = False) -> tuple[Tensor, Tensor | None]:
    """Energies (B,) in eV and forces (N, 3) by autograd through TorchANI's AEVs and networks.
    ``self_energies`` (S,): per-element reference energies added to the networks' outputs."""
    coords = batch.coords.detach().requires_grad_(forces)
    with torch.enable_grad() if forces else torch.no_grad():
        atomic = networks(batch.species, aevs(aev, batch, coords), atomic=True)[0]  # (N,)
        atomic = atomic + self_energies[batch.species[0]]
        energy = atomic.new_zeros(len(batch.n_atoms)).index_add(0, batch.structure, atomic)  # (B,)
        if not forces:
            return energy, None
        (grad,) = torch.autograd.grad(energy.sum(), coords, create_graph=create_graph)
    return energy, -grad[0]


def networks(symbols: Sequence[str], n_features: int, hidden: Sequence[int] = (25, 25),
             activation: str = "celu", dtype: torch.dtype = torch.float64):
    """TorchANI's per-element networks (``ANINetworks`` of ``AtomicNetwork``): n_features ->
    hidden... -> 1 with biases; ``activation`` "celu" (ANI's CELU, alpha 0.1), "gelu" or a module
    (e.g. ``torch.nn.Tanh()``)."""
    from torchani.nn import ANINetworks

    nets = ANINetworks.build(list(symbols), n_features, {}, activation=activation, bias=True,
                             default_dims=tuple(int(h) for h in hidden))
    return nets.to(dtype)


def self_energies(structures: Sequence[Atoms], symbols: Sequence[str]) -> np.ndarray:
    """Per-element reference energies (S,) by least squares of the total energies on the element
    counts (TorchANI's "self energies"); the mean energy per atom if the counts cannot separate
    the elements (one fixed composition)."""
    counts = np.array([[np.sum(np.array(a.get_chemical_symbols()) == s) for s in symbols] for a in structures], float)
    energies = np.array([a.get_potential_energy() for a in structures])
    if np.linalg.matrix_rank(counts) < len(symbols):
        return np.full(len(symbols), energies.sum() / counts.sum())
    return np.linalg.lstsq(counts, energies, rcond=None)[0]


def _errors(aev, nets, e0, batches) -> dict[str, float]:
    """Energy RMSE per atom (eV/atom) and force RMSE per component (eV/Å) over batches."""
    se = sf = 0.0
    n_e = n_f = 0
    for b in batches:
        energy, force = energies_and_forces(aev, nets, e0, b, forces=True)
        se += float((((energy.detach() - b.energy) / b.n_atoms) ** 2).sum()); n_e += len(b.energy)
        sf += float(((force.detach() - b.forces) ** 2).sum()); n_f += b.forces.numel()
    return {"energy_rmse": math.sqrt(se / n_e), "force_rmse": math.sqrt(sf / n_f)}


def torchani_fit(train: Sequence[Atoms], valid: Sequence[Atoms], test_sets: dict[str, Sequence[Atoms]],
                 species: Sequence[str], budget_s: float, seed: int = 0, hidden: Sequence[int] = (25, 25),
                 activation: str = "celu", batch_size: int = 16, lr: float = 1e-3, energy_weight: float = 1.0,
                 force_weight: float = 1.0, patience: int = 20, radial_cutoff: float = 5.2,
                 angular_cutoff: float = 3.5, aev_kwargs: dict | None = None) -> dict:
    """Train a TorchANI model (ANI-1x AEVs + one network per element) on energies and forces
    within ``budget_s`` seconds of wall clock, and return its errors on each test set.

    Data: lists of ASE Atoms with a calculator holding the reference energy (eV) and forces
    (eV/Å), as ``minnp.datasets.load`` returns them; periodic, partly periodic or isolated
    structures, one or more species (``species``: chemical symbols, e.g. ``["Si"]`` or
    ``["Si", "O"]``).

    Recipe (TorchANI's, with minnp's loss so the comparison is about the model):
    - AEVs: :func:`aev_computer` with ANI-1x's numbers (radial cutoff 5.2 Å, 16 radial shifts;
      angular cutoff 3.5 Å, 8 angle sections × 4 radial shifts), float64, unscaled (as ANI).
    - Self energies: least squares on element counts over ``train`` (:func:`self_energies`);
      the networks learn the rest.
    - Networks: TorchANI's ``ANINetworks`` of ``hidden`` layers with ``activation`` (CELU).
    - Loss per mini-batch of ``batch_size`` structures, the one ``minnp.train.fit`` uses:
      ``energy_weight · mean((ΔE / n_atoms)²) + force_weight · mean(ΔF²)``; forces by autograd
      through the AEVs (double backward), every step.
    - Adam (``lr``), learning rate halved after 5 epochs without improvement on ``valid``;
      early stopping after ``patience`` such epochs; the best validation state is kept.

    The budget counts everything from the call on (neighbour lists, self energies, training,
    validation) except the final test evaluation; an epoch is cut short when the budget runs
    out (validation then still runs once). Mini-batches (and their neighbour lists) are formed
    once, with ``seed``, and their order shuffled every epoch.

    Returns ``{"test": {name: {"energy_rmse": eV/atom, "force_rmse": eV/Å}}, "valid": {...},
    "epochs": int, "steps": int, "train_s": float, "n_parameters": int, "torchani": version}``
    (``valid``: the errors of the state kept). A wall-clock budget makes the result depend on
    the machine and its load (how many steps fit): run the methods of one table in one process,
    one after another, with the same budget and thread count.

    Example (``python -m benchmarks.torchani_peer 20`` runs it)::

        from minnp import data, datasets
        train, valid, test = data.group_split(datasets.load("si_tersoff"), ["diamond 900 K"])
        torchani_fit(train, valid, {"900 K": test}, ["Si"], budget_s=90)["test"]["900 K"]
    """
    from torchani.nn import ANINetworks  # noqa: F401 (fails early, with the install hint below)

    start = time.perf_counter()
    if not train or not valid:
        raise ValueError("torchani_fit needs a non-empty training and validation set")
    if budget_s <= 0:
        raise ValueError(f"budget_s must be positive seconds, got {budget_s}")
    species = list(species)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dtype = torch.float64
    aev = aev_computer(len(species), radial_cutoff, angular_cutoff, **(aev_kwargs or {}))
    nets = networks(species, aev.out_dim, hidden, activation)
    e0 = torch.tensor(self_energies(train, species), dtype=dtype)

    def batches(structures, size, shuffle):
        order = rng.permutation(len(structures)) if shuffle else np.arange(len(structures))
        return [AniBatch([structures[k] for k in order[i:i + size]], species, radial_cutoff, dtype, labels=True)
                for i in range(0, len(structures), size)]

    train_batches = batches(train, batch_size, True)
    valid_batches = batches(valid, 4 * batch_size, False)
    optimizer = torch.optim.Adam(nets.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5, min_lr=1e-5)
    best, best_state, stale, epochs, steps = math.inf, copy.deepcopy(nets.state_dict()), 0, 0, 0
    best_valid = {}
    out_of_time = False
    while not out_of_time and stale < patience:
        epochs += 1
        for k in rng.permutation(len(train_batches)):
            b = train_batches[k]
            energy, force = energies_and_forces(aev, nets, e0, b, forces=force_weight > 0, create_graph=True)
            loss = energy_weight * (((energy - b.energy) / b.n_atoms) ** 2).mean()
            if force_weight > 0:
                loss = loss + force_weight * ((force - b.forces) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if time.perf_counter() - start > budget_s:
                out_of_time = True
                break
        metrics = _errors(aev, nets, e0, valid_batches)
        score = energy_weight * metrics["energy_rmse"] ** 2 + force_weight * metrics["force_rmse"] ** 2
        if not math.isfinite(score):
            break  # diverged: keep the best state so far
        scheduler.step(score)
        if score < best:
            best, best_state, best_valid, stale = score, copy.deepcopy(nets.state_dict()), metrics, 0
        else:
            stale += 1
        out_of_time = out_of_time or time.perf_counter() - start > budget_s
    train_s = time.perf_counter() - start
    nets.load_state_dict(best_state)
    test = {name: _errors(aev, nets, e0, batches(list(structures), 4 * batch_size, False))
            for name, structures in test_sets.items()}
    return {"test": test, "valid": best_valid, "epochs": epochs, "steps": steps, "train_s": train_s,
            "n_parameters": sum(p.numel() for p in nets.parameters()), "torchani": version()}


if __name__ == "__main__":  # a quick check on the course's Si set: python -m benchmarks.torchani_peer [budget_s]
    import sys

    from minnp import data, datasets

    torch.set_num_threads(1)
    structures = datasets.load("si_tersoff")
    train, valid, test = data.group_split(structures, ["diamond 900 K"], val_fraction=0.1, seed=0)
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    result = torchani_fit(train, valid, {"diamond 900 K": test}, ["Si"], budget_s=budget)
    print(result)
