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

A model with a ``fit_linear`` method (the HDNNP) also gets the least-squares linear model on its
own scaled descriptors, under the same loss (:mod:`minnp.models.linear`, one linear solve), and
its validation errors go into the history as ``linear_valid_energy_rmse`` and
``linear_valid_force_rmse``: the baseline the network has to beat. When the network ends worse
than it on validation, fit says so. With ``HDNNP(..., baseline="linear")`` that linear model is
part of the model (Δ-learning): training starts at the baseline, which counts as the best
state so far, so the model returned is never worse on validation than the straight line.

:func:`evaluate` and :func:`predict` take any energy module (EAM, Tersoff and Lennard-Jones have
no trainable parameters; they run where their buffers live, or on the CPU in float64). A
second :func:`fit` of a fitted model is refused unless it says how: ``refit_scaling=False``
continues training (scaling and energy shift kept, the model passed in is the best so far),
``refit_scaling=True`` refits them. Bad input stops with a clear error before any training:
empty sets, missing or non-finite labels (naming the structure and, when ``atoms.info`` has
them, its ``source`` file and ``line``), all loss weights zero; a loss that turns inf or NaN
stops training with the fix (a smaller learning rate).
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
from ase.calculators.calculator import PropertyNotImplementedError
from tqdm.auto import tqdm

from minnp.batch import Batch, atoms_to_batch, sum_per_structure
from minnp.calculator import compute
from minnp.models import linear
from minnp.models.networks import ExtrapolationWarning

Tensor = torch.Tensor


def model_device_dtype(model: torch.nn.Module, device=None) -> tuple[torch.device, torch.dtype]:
    """Where and in which precision ``model`` computes: its first floating-point parameter, else
    its first floating-point buffer (EAM, Tersoff), else the CPU in float64 (a module with no
    tensors, e.g. Lennard-Jones). An explicit ``device`` wins."""
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    found = tensors[0] if tensors else None
    if device is None:
        device = found.device if found is not None else torch.device("cpu")
    return torch.device(device), found.dtype if found is not None else torch.float64


def _name(atoms: Atoms, k: int) -> str:
    """'structure 3' and, when the reader recorded it, '(file.data, line 120)'."""
    source, line = atoms.info.get("source"), atoms.info.get("line")
    where = ", ".join(str(x) for x in (source, None if line is None else f"line {line}") if x is not None)
    return f"structure {k}" + (f" ({where})" if where else "")


def _labels(structures: Sequence[Atoms], need_forces: bool, need_charges: bool, indices: Sequence[int]):
    """Reference energies (eV), forces (eV/Å) and atomic charges (e) of each structure, checked;
    ``indices``: the structures' positions in the caller's list (for the error messages)."""
    energies, forces, charges = [], [], []
    for k, atoms in zip(indices, structures):
        if need_charges:
            if "charges" not in atoms.arrays:
                raise ValueError(f"{_name(atoms, k)} has no reference charges: training on charges needs "
                                 "atoms.arrays['charges'] (minnp.data.label(atoms, charges=...))")
            charges.append(_finite(atoms.arrays["charges"], "charges", atoms, k))
        if atoms.calc is None:
            raise ValueError(f"{_name(atoms, k)} has no reference energy: attach labels as minnp.data.read does "
                             "(minnp.data.label(atoms, energy=..., forces=...))")
        energies.append(_label(atoms, k, "energy", atoms.get_potential_energy))
        if need_forces:
            forces.append(_label(atoms, k, "forces", atoms.get_forces))
    return energies, forces, charges


def _label(atoms: Atoms, k: int, what: str, read):
    """One reference label of structure k, checked: present and finite."""
    try:
        value = read()
    except PropertyNotImplementedError:
        fix = "train on energies only (force_weight=0)" if what == "forces" else "drop it"
        raise ValueError(f"{_name(atoms, k)} has no reference {what}: label it (minnp.data.label), or {fix}") from None
    return _finite(value, what, atoms, k)


def _finite(value, what: str, atoms: Atoms, k: int):
    if not np.isfinite(value).all():
        raise ValueError(f"{_name(atoms, k)} has a non-finite reference {what} ({what} contains NaN or inf): "
                         "fix or drop that structure before training")
    return value


class _Minibatch:
    """Structures, their reference labels and a Batch whose neighbour lists are kept."""

    def __init__(self, structures, device, dtype, need_forces, need_charges=False, indices=None):
        indices = range(len(structures)) if indices is None else indices
        energies, forces, charges = _labels(structures, need_forces, need_charges, indices)
        self.batch: Batch = atoms_to_batch(structures, device=device, dtype=dtype)
        self.energy = torch.tensor(energies, device=device, dtype=dtype)  # (B,)
        self.forces = torch.tensor(np.concatenate(forces), device=device, dtype=dtype) if need_forces else None
        self.charges = torch.tensor(np.concatenate(charges), device=device, dtype=dtype) if need_charges else None
        self.n_atoms = self.batch.n_atoms.to(dtype)  # (B,)
        self.cache = None  # the model's precomputed descriptors, when fit makes them


def _predictions(model, mb: _Minibatch, forces: bool, charges: bool = False,
                 create_graph: bool = False) -> dict[str, Tensor]:
    """Energies (B,), forces (N, 3) and charges (N,) of a mini-batch from ONE forward pass:
    from its cache when it has one."""
    if mb.cache is None:
        return compute(model, mb.batch, forces=forces, create_graph=create_graph, charges=charges)
    energies, f = model.energies_and_forces(mb.cache, create_graph=create_graph)  # (N,), (N, 3) or None
    out = {"energy": sum_per_structure(energies, mb.batch), "energies": energies}
    return out | ({"forces": f} if forces else {})


def minibatches(structures: Sequence[Atoms], batch_size: int, seed: int, device, dtype, need_forces=True,
                shuffle=True, need_charges=False) -> list[_Minibatch]:
    order = np.random.default_rng(seed).permutation(len(structures)) if shuffle else np.arange(len(structures))
    return [_Minibatch([structures[k] for k in order[i:i + batch_size]], device, dtype, need_forces, need_charges,
                       indices=order[i:i + batch_size]) for i in range(0, len(structures), batch_size)]


def _errors(model, chunks, forces: bool, charges: bool = False, energies: bool = True):
    """Sum of squared and absolute errors: energies per atom, force components, atomic charges."""
    sums = dict(e2=0.0, e1=0.0, n_e=0, f2=0.0, f1=0.0, n_f=0, q2=0.0, q1=0.0, n_q=0)
    for mb in chunks:
        if energies or forces:
            out = _predictions(model, mb, forces, charges and mb.cache is None)
            de = (out["energy"] - mb.energy) / mb.n_atoms
            sums["e2"] += float((de**2).sum()); sums["e1"] += float(de.abs().sum()); sums["n_e"] += len(de)
        if forces:
            df = out["forces"] - mb.forces
            sums["f2"] += float((df**2).sum()); sums["f1"] += float(df.abs().sum()); sums["n_f"] += df.numel()
        if charges:
            if not (energies or forces) or "charges" not in out:
                with torch.no_grad():
                    out = {"charges": model.charges(mb.batch)}
            dq = out["charges"] - mb.charges
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


def _not_empty(structures, what: str, fix: str) -> None:
    if len(structures) == 0:
        raise ValueError(f"{what} is empty: {fix}")


def evaluate(model: torch.nn.Module, structures: Sequence[Atoms], forces: bool = True,
             batch_size: int = 32, charges: bool = False, device=None) -> dict[str, float]:
    """Errors against the structures' labels: ``energy_rmse``/``energy_mae`` in eV/atom,
    ``force_rmse``/``force_mae`` in eV/Å per component and, with ``charges=True`` (models with
    a ``charges`` method), ``charge_rmse``/``charge_mae`` in e. Any energy module; ``device``
    defaults to where the model lives (:func:`model_device_dtype`)."""
    _not_empty(structures, "the list of structures to evaluate", "pass at least one labelled structure")
    device, dtype = model_device_dtype(model, device)
    model.eval()
    chunks = minibatches(structures, batch_size, 0, device, dtype, need_forces=forces, shuffle=False,
                         need_charges=charges)
    return _metrics(_errors(model, chunks, forces, charges))


def predict(model: torch.nn.Module, structures: Sequence[Atoms], forces: bool = True,
            batch_size: int = 32, device=None) -> dict[str, np.ndarray]:
    """Energies per structure (eV) and forces (eV/Å, stacked over all atoms) for parity plots;
    any energy module, on ``device`` (default: where the model lives)."""
    _not_empty(structures, "the list of structures to predict", "pass at least one structure")
    device, dtype = model_device_dtype(model, device)
    model.eval()
    energy, force = [], []
    for start in range(0, len(structures), batch_size):
        batch = atoms_to_batch(structures[start:start + batch_size], device=device, dtype=dtype)
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
        charge_weight: float = 0.0, precompute: bool = True, refit_scaling: bool | None = None) -> dict:
    """Train ``model`` on energies (and forces when ``force_weight > 0``, and atomic charges when
    ``charge_weight > 0``: the model needs a ``charges(batch)`` method); return the history.

    The model's fixed parts that depend on data (feature scaling and energy shift of an
    HDNNP) are fitted on ``train`` only, here, if the model has them. A model fitted before is
    refused with the fix: ``refit_scaling=False`` continues training it (scaling and shift
    kept, the model passed in counts as the best so far), ``refit_scaling=True`` refits them.
    ``valid`` drives the learning-rate schedule and early stopping; the best validation state
    is restored at the end. ``max_time`` (seconds) stops early on a wall-clock
    budget. History keys: ``epoch``, ``lr``, ``loss``, ``time`` and the validation metrics of
    :func:`evaluate` as ``valid_energy_rmse`` etc. With ``precompute`` (default), a model that
    has a ``precompute(batch)`` method gets its descriptors and their derivatives computed once
    (their time is included in ``time``); ``precompute=False`` recomputes them every step
    (same numbers, several times slower). A loss that becomes inf or NaN stops training with a
    ``FloatingPointError`` (the model is left at its best state).
    """
    _not_empty(train, "the training set", "pass at least one labelled structure to train on")
    _not_empty(valid, "the validation set", "hold out a few structures (minnp.data.random_split) for validation")
    weights = {"energy_weight": energy_weight, "force_weight": force_weight, "charge_weight": charge_weight}
    if any(not (math.isfinite(w) and w >= 0) for w in weights.values()) or not any(weights.values()):
        raise ValueError(f"loss weights must be finite, non-negative and not all zero, got {weights}: e.g. "
                         "energy_weight=1, force_weight=1 (or charge_weight=1 for the charge stage of a 4G model)")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive learning rate, got {lr!r}: e.g. lr=3e-3")
    trainable = [q for q in model.parameters() if q.requires_grad]
    if not trainable:
        raise ValueError(f"{type(model).__name__} has no trainable parameters: fit trains learned models "
                         "(HDNNP, ThirdGeneration, FourthGeneration); use evaluate or predict for this one")
    torch.manual_seed(seed)
    device, dtype = model_device_dtype(model)
    with_forces = force_weight > 0
    with_charges = charge_weight > 0
    with_energies = energy_weight > 0 or with_forces
    train_chunks = minibatches(train, batch_size, seed, device, dtype, need_forces=with_forces,
                               need_charges=with_charges)
    valid_chunks = minibatches(valid, 4 * batch_size, seed, device, dtype, need_forces=with_forces, shuffle=False,
                               need_charges=with_charges)
    fitted_before = bool(getattr(model, "scaling_fitted", False))
    if fitted_before and refit_scaling is None:
        raise ValueError(
            f"this {type(model).__name__} was fitted before: its input scaling and energy shift come from an "
            "earlier fit, and refitting them under trained weights changes what the networks see (a worse "
            "model). To continue training it, call fit(..., refit_scaling=False): scaling and shift are kept "
            "and the model passed in counts as the best so far. To start over, build a new model "
            "(or pass refit_scaling=True).")
    resumed = fitted_before and not refit_scaling
    if not resumed and refit_scaling is not False:
        if hasattr(model, "fit_scaling"):
            model.fit_scaling(train)
        if hasattr(model, "fit_energy_shift"):
            model.fit_energy_shift(train)
    start = time.perf_counter()
    if precompute and hasattr(model, "precompute"):
        for mb in train_chunks + valid_chunks:
            mb.cache = model.precompute(mb.batch, derivatives=with_forces)
    history: dict[str, list | float] = {"epoch": [], "lr": [], "loss": [], "time": []}
    with_baseline = getattr(model, "baseline", None) == "linear" and not resumed
    if hasattr(model, "fit_linear") and with_energies:
        history |= _linear_baseline(model, train_chunks, valid_chunks, energy_weight, force_weight, with_forces,
                                    install=with_baseline)
    # foreach: one call per step for all parameters (the same numbers as the per-tensor loop, CPU's
    # default; it was a tenth of a small message-passing network's training time)
    optimizer = torch.optim.Adam(trainable, lr=lr, foreach=True)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=lr_factor, patience=lr_patience,
                                                           min_lr=min_lr)

    def validation_score():
        model.eval()
        with warnings.catch_warnings():  # validation structures may lie just outside the training range
            warnings.simplefilter("ignore", ExtrapolationWarning)
            metrics = _metrics(_errors(model, valid_chunks, with_forces, with_charges, with_energies))
        weighted = (("energy", energy_weight), ("force", force_weight), ("charge", charge_weight))
        return metrics, sum(w * metrics.get(f"{key}_rmse", 0.0) ** 2 for key, w in weighted)

    rng = np.random.default_rng(seed)
    best, best_epoch, best_state, stale = math.inf, 0, copy.deepcopy(model.state_dict()), 0
    if resumed or with_baseline:  # the model passed in (or its baseline) is the best until an epoch beats it
        best = validation_score()[1]
    bar = tqdm(range(1, epochs + 1), desc="training", **({} if progress else {"disable": True}))
    for epoch in bar:
        model.train()
        total = 0.0
        for k in rng.permutation(len(train_chunks)):
            mb = train_chunks[k]
            out, loss = {}, 0.0
            if with_energies:  # energies, forces and (3G/4G) charges from one forward pass
                out = _predictions(model, mb, with_forces, with_charges and mb.cache is None, create_graph=True)
                loss = energy_weight * (((out["energy"] - mb.energy) / mb.n_atoms) ** 2).mean()
            if with_forces:
                loss = loss + force_weight * ((out["forces"] - mb.forces) ** 2).mean()
            if with_charges:
                q = out["charges"] if "charges" in out else model.charges(mb.batch)  # (N,)
                loss = loss + charge_weight * ((q - mb.charges) ** 2).mean()
            value = float(loss.detach())
            if not math.isfinite(value):
                _stop(model, best_state, best_epoch, epoch, value, optimizer.param_groups[0]["lr"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += value
        metrics, score = validation_score()
        if not math.isfinite(score):
            _stop(model, best_state, best_epoch, epoch, score, optimizer.param_groups[0]["lr"], "validation error")
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
            best, best_epoch, best_state, stale = score, epoch, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        if stale >= patience or (max_time is not None and history["time"][-1] > max_time):
            break
    model.load_state_dict(best_state)
    model.eval()
    if len(history["epoch"]) > 1 and best_epoch <= 1:
        start_state = "its linear baseline" if with_baseline else "the model passed in"
        before = f"{start_state} (no epoch improved on it)" if best_epoch == 0 else "epoch 1"
        warnings.warn(f"the best validation error of this fit was {before}; the model returned is that state. "
                      f"The learning rate may be too large (lr={lr:g}): try fit(..., lr={lr / 10:g})", stacklevel=2)
    _compare_with_linear(model, history, best_epoch, with_baseline)
    return history


def _linear_baseline(model, train_chunks, valid_chunks, energy_weight, force_weight, with_forces, install):
    """Fit the least-squares linear model on the model's descriptors (installing it as the model's
    baseline when ``install``) and return its validation errors under ``linear_valid_*`` keys."""
    def caches(chunks):  # (cache, structure, energy, forces, n_atoms) per chunk; made here without precompute
        for mb in chunks:
            cache = mb.cache if mb.cache is not None else model.precompute(mb.batch, derivatives=with_forces)
            yield cache, mb.batch.structure, mb.energy, mb.forces, mb.n_atoms

    weight, constant = model.fit_linear(caches(train_chunks), energy_weight, force_weight if with_forces else 0.0,
                                        install=install)
    sums = dict(e2=0.0, n_e=0, f2=0.0, n_f=0)
    for cache, structure, energy, forces, n_atoms in caches(valid_chunks):
        e, f = linear.predict_linear(cache, structure, len(energy), model.feature_mean, model.feature_std,
                                     weight, constant, forces=with_forces)
        sums["e2"] += float((((e - energy) / n_atoms) ** 2).sum()); sums["n_e"] += len(energy)
        if f is not None:
            sums["f2"] += float(((f - forces) ** 2).sum()); sums["n_f"] += forces.numel()
    out = {"linear_valid_energy_rmse": math.sqrt(sums["e2"] / sums["n_e"])}
    if sums["n_f"]:
        out["linear_valid_force_rmse"] = math.sqrt(sums["f2"] / sums["n_f"])
    return out


def _compare_with_linear(model, history, best_epoch, with_baseline) -> None:
    """Warn when the network ends worse on validation than the straight line through its descriptors."""
    if with_baseline or "linear_valid_energy_rmse" not in history or not history["epoch"] or best_epoch == 0:
        return
    worse = [f"{key} {history[f'valid_{key}_rmse'][best_epoch - 1]:.3g} vs {history[f'linear_valid_{key}_rmse']:.3g}"
             for key in ("energy", "force") if f"linear_valid_{key}_rmse" in history
             and history[f"valid_{key}_rmse"][best_epoch - 1] > history[f"linear_valid_{key}_rmse"]]
    if worse:
        warnings.warn(f"the linear model on the same descriptors beats this {type(model).__name__} on validation "
                      f"({', '.join(worse)}; RMSE, network vs linear): train longer, or build the model with "
                      "baseline='linear' so that the network learns only what the line misses", stacklevel=3)


def _stop(model, best_state, best_epoch, epoch, value, lr, what="training loss"):
    """Restore the best state and stop: a non-finite loss only gets worse."""
    model.load_state_dict(best_state)
    model.eval()
    kept = f"the state after epoch {best_epoch}" if best_epoch else "the state it had before this fit"
    raise FloatingPointError(f"the {what} became {value} in epoch {epoch} (learning rate {lr:g}): the steps "
                             f"are too large. Try a smaller learning rate, e.g. fit(..., lr={lr / 100:g}); "
                             f"the model was reset to {kept}")
