"""Training energy models on energies and forces: one loop for every model in the course.

Notebook 07 explains it; notebook 10 reuses it for the 2G/3G/4G comparison.

The loss for a mini-batch of B structures with N atoms is

    L = w_E · (1/B) Σ_s ((E_s - E_s^ref) / n_s)²  +  w_F · (1/3N) Σ_i |F_i - F_i^ref|²

energies per atom (so large and small cells count alike), forces per component; forces come
from autograd with ``create_graph=True`` so the loss on them can be differentiated again.
Adam with a learning rate that drops on a validation plateau, early stopping that keeps the
best validation state, fixed seeds, a tqdm bar (off when ``TQDM_DISABLE=1``, as in CI).

Models with a ``charges(batch) -> (N,)`` method (3G and 4G networks, notebook 10) can also be
fitted to the reference charges in ``atoms.arrays["charges"]``: ``charge_weight`` adds
w_Q · (1/N) Σ_i (q_i - q_i^ref)²; with w_E = w_F = 0 only charges are trained (stage 1 of a 4G
network) and no energies are computed.

Mini-batches are formed once, with the seed, and their *order* is shuffled every epoch: each
mini-batch keeps its neighbour lists, which is what makes an epoch cheap. A model with a
``precompute(batch)`` method (the HDNNP) goes further, as n2p2 does: its descriptors and their
derivatives are computed once per mini-batch, and every step evaluates only the networks
(``model.energies_and_forces(cache)``, the same numbers as :func:`minnp.calculator.compute`).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from tqdm.auto import tqdm

from minnp.batch import Batch, atoms_to_batch, sum_per_structure
from minnp.calculator import compute
from minnp.models.hdnnp import ExtrapolationWarning

Tensor = torch.Tensor


def _labels(structures: Sequence[Atoms], need_forces: bool, need_charges: bool = False):
    """Reference energies (eV), forces (eV/Å) and atomic charges (e) of each structure."""
    energies, forces, charges = [], [], []
    for k, atoms in enumerate(structures):
        if need_charges:
            if "charges" not in atoms.arrays:
                raise ValueError(f"structure {k} has no reference charges: training on charges needs "
                                 "atoms.arrays['charges'] (minnp.data.label(atoms, charges=...))")
            charges.append(atoms.arrays["charges"])
        if atoms.calc is None:
            raise ValueError(f"structure {k} has no reference energy: attach labels as minnp.data.read does "
                             "(a SinglePointCalculator with energy and forces)")
        energies.append(atoms.get_potential_energy())
        if need_forces:
            forces.append(atoms.get_forces())
    return energies, forces, charges


class _Minibatch:
    """Structures, their reference labels and a Batch whose neighbour lists are kept."""

    def __init__(self, structures, device, dtype, need_forces, need_charges=False):
        energies, forces, charges = _labels(structures, need_forces, need_charges)
        self.batch: Batch = atoms_to_batch(structures, device=device, dtype=dtype)
        self.energy = torch.tensor(energies, device=device, dtype=dtype)  # (B,)
        self.forces = torch.tensor(np.concatenate(forces), device=device, dtype=dtype) if need_forces else None
        self.charges = torch.tensor(np.concatenate(charges), device=device, dtype=dtype) if need_charges else None
        self.n_atoms = self.batch.n_atoms.to(dtype)  # (B,)
        self.cache = None  # the model's precomputed descriptors, when fit makes them


def _energy_and_forces(model, mb: _Minibatch, forces: bool, create_graph: bool = False) -> dict[str, Tensor]:
    """Energies (B,) and forces (N, 3) of a mini-batch: from its cache when it has one."""
    if mb.cache is None:
        return compute(model, mb.batch, forces=forces, create_graph=create_graph)
    energies, f = model.energies_and_forces(mb.cache, create_graph=create_graph)  # (N,), (N, 3) or None
    out = {"energy": sum_per_structure(energies, mb.batch), "energies": energies}
    return out | ({"forces": f} if forces else {})


def minibatches(structures: Sequence[Atoms], batch_size: int, seed: int, device, dtype, need_forces=True,
                shuffle=True, need_charges=False) -> list[_Minibatch]:
    order = np.random.default_rng(seed).permutation(len(structures)) if shuffle else np.arange(len(structures))
    return [_Minibatch([structures[k] for k in order[i:i + batch_size]], device, dtype, need_forces, need_charges)
            for i in range(0, len(structures), batch_size)]


def _errors(model, chunks, forces: bool, charges: bool = False, energies: bool = True):
    """Sum of squared and absolute errors: energies per atom, force components, atomic charges."""
    sums = dict(e2=0.0, e1=0.0, n_e=0, f2=0.0, f1=0.0, n_f=0, q2=0.0, q1=0.0, n_q=0)
    for mb in chunks:
        if energies or forces:
            out = _energy_and_forces(model, mb, forces)
            de = (out["energy"] - mb.energy) / mb.n_atoms
            sums["e2"] += float((de**2).sum()); sums["e1"] += float(de.abs().sum()); sums["n_e"] += len(de)
        if forces:
            df = out["forces"] - mb.forces
            sums["f2"] += float((df**2).sum()); sums["f1"] += float(df.abs().sum()); sums["n_f"] += df.numel()
        if charges:
            with torch.no_grad():
                dq = model.charges(mb.batch) - mb.charges
            sums["q2"] += float((dq**2).sum()); sums["q1"] += float(dq.abs().sum()); sums["n_q"] += dq.numel()
    return sums


def _metrics(sums) -> dict[str, float]:
    out = {}
    if sums["n_e"]:
        out.update(energy_rmse=math.sqrt(sums["e2"] / sums["n_e"]), energy_mae=sums["e1"] / sums["n_e"])
    if sums["n_f"]:
        out.update(force_rmse=math.sqrt(sums["f2"] / sums["n_f"]), force_mae=sums["f1"] / sums["n_f"])
    if sums["n_q"]:
        out.update(charge_rmse=math.sqrt(sums["q2"] / sums["n_q"]), charge_mae=sums["q1"] / sums["n_q"])
    return out


def evaluate(model: torch.nn.Module, structures: Sequence[Atoms], forces: bool = True,
             batch_size: int = 32, charges: bool = False) -> dict[str, float]:
    """Errors against the structures' labels: ``energy_rmse``/``energy_mae`` in eV/atom,
    ``force_rmse``/``force_mae`` in eV/Å per component and, with ``charges=True`` (models with
    a ``charges`` method), ``charge_rmse``/``charge_mae`` in e."""
    p = next(model.parameters())
    model.eval()
    chunks = minibatches(structures, batch_size, 0, p.device, p.dtype, need_forces=forces, shuffle=False,
                         need_charges=charges)
    return _metrics(_errors(model, chunks, forces, charges))


def predict(model: torch.nn.Module, structures: Sequence[Atoms], forces: bool = True,
            batch_size: int = 32) -> dict[str, np.ndarray]:
    """Energies per structure (eV) and forces (eV/Å, stacked over all atoms) for parity plots."""
    p = next(model.parameters())
    model.eval()
    energy, force = [], []
    for start in range(0, len(structures), batch_size):
        batch = atoms_to_batch(structures[start:start + batch_size], device=p.device, dtype=p.dtype)
        out = compute(model, batch, forces=forces)
        energy.append(out["energy"].cpu().numpy())
        if forces:
            force.append(out["forces"].cpu().numpy())
    result = {"energy": np.concatenate(energy)}
    if forces:
        result["forces"] = np.concatenate(force)
    return result


def fit(model: torch.nn.Module, train: Sequence[Atoms], valid: Sequence[Atoms], epochs: int = 100,
        batch_size: int = 16, lr: float = 3e-3, energy_weight: float = 1.0, force_weight: float = 1.0,
        patience: int = 20, lr_patience: int = 5, lr_factor: float = 0.5, min_lr: float = 1e-5,
        seed: int = 0, max_time: float | None = None, progress: bool = True,
        charge_weight: float = 0.0, precompute: bool = True) -> dict[str, list]:
    """Train ``model`` on energies (and forces when ``force_weight > 0``, and atomic charges when
    ``charge_weight > 0``: the model needs a ``charges(batch)`` method); return the history.

    The model's fixed parts that depend on data (feature scaling and energy shift of an
    HDNNP) are fitted on ``train`` only, here, if the model has them. ``valid`` drives the
    learning-rate schedule and early stopping; the best validation state is restored at the
    end. ``max_time`` (seconds) stops early on a wall-clock budget. History keys: ``epoch``,
    ``lr``, ``loss``, ``time`` and the validation metrics of :func:`evaluate` as
    ``valid_energy_rmse`` etc. With ``precompute`` (default), a model that has a
    ``precompute(batch)`` method gets its descriptors and their derivatives computed once
    (their time is included in ``time``); ``precompute=False`` recomputes them every step
    (same numbers, several times slower).
    """
    torch.manual_seed(seed)
    p = next(model.parameters())
    device, dtype = p.device, p.dtype
    with_forces = force_weight > 0
    with_charges = charge_weight > 0
    with_energies = energy_weight > 0 or with_forces
    if hasattr(model, "fit_scaling"):
        model.fit_scaling(train)
    if hasattr(model, "fit_energy_shift"):
        model.fit_energy_shift(train)
    train_chunks = minibatches(train, batch_size, seed, device, dtype, need_forces=with_forces,
                               need_charges=with_charges)
    valid_chunks = minibatches(valid, 4 * batch_size, seed, device, dtype, need_forces=with_forces, shuffle=False,
                               need_charges=with_charges)
    start = time.perf_counter()
    if precompute and hasattr(model, "precompute"):
        for mb in train_chunks + valid_chunks:
            mb.cache = model.precompute(mb.batch, derivatives=with_forces)
    optimizer = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=lr_factor, patience=lr_patience,
                                                           min_lr=min_lr)
    rng = np.random.default_rng(seed)
    history: dict[str, list] = {"epoch": [], "lr": [], "loss": [], "time": []}
    best, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    bar = tqdm(range(1, epochs + 1), desc="training", **({} if progress else {"disable": True}))
    for epoch in bar:
        model.train()
        total = 0.0
        for k in rng.permutation(len(train_chunks)):
            mb = train_chunks[k]
            loss = 0.0
            if with_energies:
                out = _energy_and_forces(model, mb, with_forces, create_graph=True)
                loss = energy_weight * (((out["energy"] - mb.energy) / mb.n_atoms) ** 2).mean()
            if with_forces:
                loss = loss + force_weight * ((out["forces"] - mb.forces) ** 2).mean()
            if with_charges:
                loss = loss + charge_weight * ((model.charges(mb.batch) - mb.charges) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        model.eval()
        with warnings.catch_warnings():  # validation structures may lie just outside the training range
            warnings.simplefilter("ignore", ExtrapolationWarning)
            metrics = _metrics(_errors(model, valid_chunks, with_forces, with_charges, with_energies))
        score = (energy_weight * metrics.get("energy_rmse", 0.0) ** 2 + force_weight * metrics.get("force_rmse", 0.0) ** 2
                 + charge_weight * metrics.get("charge_rmse", 0.0) ** 2)
        scheduler.step(score)
        history["epoch"].append(epoch)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["loss"].append(total / len(train_chunks))
        history["time"].append(time.perf_counter() - start)
        for key, value in metrics.items():
            history.setdefault(f"valid_{key}", []).append(value)
        bar.set_postfix({**({"E meV/at": f"{1e3 * metrics['energy_rmse']:.2f}"} if with_energies else {}),
                         **({"F eV/Å": f"{metrics['force_rmse']:.3f}"} if with_forces else {}),
                         **({"Q me": f"{1e3 * metrics['charge_rmse']:.2f}"} if with_charges else {})})
        if score < best:
            best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        if stale >= patience or (max_time is not None and history["time"][-1] > max_time):
            break
    model.load_state_dict(best_state)
    model.eval()
    return history
