"""Equivariant message passing (notebook 14): time per training step and force error, l_max = 0, 1, 2

The model is notebook 14's: ``EquivariantFeatures`` (two NequIP-style layers, C = 8 channels per
order, r_c = 4 Å, 8 Bessel functions) read out by ``MessagePassingPotential`` (16 SiLU units),
float32, trained by ``minnp.train.fit`` on energies + forces of ethanol from
``minnp.datasets.load("md_molecules_xtb")`` (400 training frames of trajectory 1; ``--quick``: 50)
and tested on 100 frames of trajectory 2.

- One row per l_max: seconds per training step (mini-batch of 8 molecules: forward, forces by
  autograd, backward through both), with the test force MAE after a fixed number of steps in
  the note.
- The anchor: nequip (PyPI, MIT; Batzner et al. 2022), built with ``NequIPGNNModel`` at the same
  size (2 layers, l_max = 2, 8 channels per order, polar parity only, 8 Bessel functions, radial
  MLP of 16, n̄ = 8, float32), its per-type energy shift the mean energy per atom and its scale
  the force RMS of the training frames (nequip's recommended practice), trained by the same
  loop as ``fit`` (Adam, lr 5e-3, the same mini-batches of 8, loss 10·(ΔE/atom)² + |ΔF|²,
  learning rate halved on a validation plateau, best validation state kept) for the same
  number of steps. Its row: seconds per step, and its force MAE beside minnp's l_max = 2.
  nequip ≥ 0.7 pulls in lightning and hydra; it installs into the project's environment without
  changing torch, or the row says why it was skipped.
- The learning curve (issue 18; notebook 14 stops at 400 structures for CI time): l_max = 0
  (invariant), 1 and 2 trained on 25, 50, 100, 200, 400 and 1000 ethanol frames (the start of
  trajectory 1; its last 40 frames, every fourth of them the validation set, are never trained
  on), a fixed budget of 40 epochs (at least 400 steps, so the smallest sets are not starved),
  tested on the same 100 frames of trajectory 2. Printed as a table of force / energy MAE per
  size, then one row per model and size (force MAE against the invariant network's at the same
  size) and one row per model with the frames it needs to reach the force error of the
  invariant network trained on the most frames (log-log interpolation between the measured
  sizes), against those most frames: the data-efficiency factor. Full mode: 9,300 steps per
  order (18 fits), about ten minutes on 2 idle cores.
  ``--quick``: 25 and 100 frames, l_max = 0 and 2, 4 epochs (at least 40 steps).
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Row
from minnp import datasets
from minnp.models import EquivariantFeatures, MessagePassingPotential
from minnp.train import evaluate, fit


def model(l_max: int, dtype=torch.float32) -> MessagePassingPotential:
    torch.manual_seed(0)
    net = EquivariantFeatures(["H", "C", "O"], r_cut=4.0, n_features=8, l_max=l_max, n_interactions=2, n_basis=8,
                              radial_hidden=16, dtype=dtype)
    return MessagePassingPotential(net, hidden=(16,), dtype=dtype)


def nequip_fit(train, valid, test, steps: int, batch: int) -> tuple[float, float]:
    """Train nequip's NequIPGNNModel with fit's recipe; (seconds per step, test force MAE in eV/Å)."""
    import copy
    import time

    from nequip.data import AtomicDataDict
    from nequip.data.ase import from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    default = torch.get_default_dtype()
    types = ["H", "C", "O"]
    neighbours, typing = NeighborListTransform(r_max=4.0), ChemicalSpeciesToAtomTypeMapper(model_type_names=types)

    def graphs(frames):  # one batched graph and its labels (energies (B,), forces (N, 3), atoms per frame)
        g = AtomicDataDict.batched_from_list([neighbours(typing(from_ase(a))) for a in frames])
        e = torch.tensor([a.get_potential_energy() for a in frames], dtype=torch.float32)
        f = torch.tensor(np.concatenate([a.get_forces() for a in frames]), dtype=torch.float32)
        return g, e, f, torch.tensor([len(a) for a in frames], dtype=torch.float32)

    shift = float(np.mean([a.get_potential_energy() / len(a) for a in train]))
    scale = float(np.sqrt(np.mean(np.concatenate([a.get_forces().ravel() for a in train]) ** 2)))
    model = NequIPGNNModel(seed=0, model_dtype="float32", r_max=4.0, type_names=types, num_layers=2, l_max=2,
                           parity=False, num_features=8, num_bessels=8, radial_mlp_width=16, avg_num_neighbors=8.0,
                           per_type_energy_shifts={t: shift for t in types},
                           per_type_energy_scales={t: scale for t in types})

    def predict(g):
        out = model(dict(g))
        return out[AtomicDataDict.TOTAL_ENERGY_KEY].reshape(-1), out[AtomicDataDict.FORCE_KEY]

    order = np.random.default_rng(0).permutation(len(train))
    chunks = [graphs([train[k] for k in order[i:i + batch]]) for i in range(0, len(train), batch)]
    valid_graphs, test_graphs = graphs(valid), [graphs(test[i:i + 32]) for i in range(0, len(test), 32)]
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5, min_lr=1e-5)
    rng, best, best_state, done, start = np.random.default_rng(0), np.inf, None, 0, time.perf_counter()
    while done < steps:
        for k in rng.permutation(len(chunks)):
            g, e, f, n = chunks[k]
            energy, forces = predict(g)
            loss = 10.0 * (((energy - e) / n) ** 2).mean() + ((forces - f) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
        g, e, f, n = valid_graphs
        energy, forces = predict(g)
        score = float((10.0 * (((energy - e) / n) ** 2).mean() + ((forces - f) ** 2).mean()).detach())
        scheduler.step(score)
        if score < best:
            best, best_state = score, copy.deepcopy(model.state_dict())
    seconds = (time.perf_counter() - start) / done
    model.load_state_dict(best_state)
    errors = [float((predict(g)[1].detach() - f).abs().sum()) for g, e, f, n in test_graphs]
    torch.set_default_dtype(default)
    return seconds, sum(errors) / sum(t[2].numel() for t in test_graphs)


def frames_needed(sizes: list[int], errors: list[float], target: float) -> tuple[float, str]:
    """Training frames at which a learning curve (force MAE ``errors`` at ``sizes``) reaches
    ``target``: log-log interpolation between measured sizes; (frames, how it was read)."""
    sizes, errors = np.asarray(sizes, dtype=float), np.asarray(errors, dtype=float)
    if target >= errors[0]:
        return float(sizes[0]), f"already at {sizes[0]:.0f} frames (≤)"
    reached = np.nonzero(errors <= target)[0]
    if len(reached) == 0:
        return float("nan"), f"not reached with {sizes[-1]:.0f} frames"
    k = reached[0]  # the first size at or below the target; interpolate from the one before it
    t = (np.log(errors[k - 1]) - np.log(target)) / (np.log(errors[k - 1]) - np.log(errors[k]))
    return float(np.exp(np.log(sizes[k - 1]) + t * (np.log(sizes[k]) - np.log(sizes[k - 1])))), "interpolated"


def learning_curve(train, valid, test, quick: bool, batch: int = 8) -> list[Row]:
    """Force and energy MAE against training-set size for each l_max; rows as the module docstring says."""
    sizes, orders = ((25, 100), (0, 2)) if quick else ((25, 50, 100, 200, 400, 1000), (0, 1, 2))
    epochs, min_steps = (4, 40) if quick else (40, 400)
    if sizes[-1] > len(train):
        raise ValueError(f"the learning curve needs {sizes[-1]} training frames, the pool has {len(train)}")
    n_atoms = len(test[0])
    curve = {}  # (l_max, n) -> (force MAE meV/Å, energy MAE meV per molecule, steps, seconds)
    for n in sizes:
        for l_max in orders:
            m = model(l_max)
            steps_per_epoch = -(-n // batch)
            n_epochs = max(epochs, -(-min_steps // steps_per_epoch))
            history = fit(m, train[:n], valid, epochs=n_epochs, batch_size=batch, lr=5e-3, energy_weight=10.0,
                          patience=10_000, progress=False)
            errors = evaluate(m, test)
            curve[l_max, n] = (1e3 * errors["force_mae"], 1e3 * errors["energy_mae"] * n_atoms,
                               n_epochs * steps_per_epoch, float(history["time"][-1]))
    lines = [(f"ethanol learning curve: test force MAE (meV/Å) / energy MAE (meV per molecule), "
              f"{epochs} epochs (≥ {min_steps} steps) of {batch} molecules"),
             f"{'frames':>7s}" + "".join(f"{f'l_max = {l}':>20s}" for l in orders)]
    lines += [f"{n:7d}" + "".join(f"{curve[l, n][0]:11.1f} / {curve[l, n][1]:6.1f}" for l in orders) for n in sizes]
    print("\n".join(lines), "\n", flush=True)
    rows = []
    for l_max in orders:
        for n in sizes:
            force, energy, steps, seconds = curve[l_max, n]
            rows.append(Row(f"curve: l_max = {l_max}, {n} frames, force MAE", force, "l_max=0",
                            None if l_max == 0 else curve[0, n][0], unit="meV/Å",
                            note=f"energy MAE {energy:.1f} meV/molecule; {steps} steps in {seconds:.1f} s"))
    target = curve[0, sizes[-1]][0]  # the invariant network with the most frames
    for l_max in orders:
        needed, how = frames_needed(list(sizes), [curve[l_max, n][0] for n in sizes], target)
        rows.append(Row(f"curve: l_max = {l_max}, frames for {target:.0f} meV/Å", needed,
                        f"l_max=0, {sizes[-1]} fr.", float(sizes[-1]), unit="frames",
                        note=f"{how}; speed-up = how many times fewer frames than the invariant network"))
    return rows


def run(quick: bool = False) -> list[Row]:
    frames = [a for a in datasets.load("md_molecules_xtb") if a.info["molecule"] == "ethanol"]
    train = [a for a in frames if a.info["split"] == "train"]
    test = [a for a in frames if a.info["split"] == "test"][::5]  # 100 frames, 25 fs apart
    n, steps, batch = (50, 40, 8) if quick else (400, 400, 8)
    valid = train[-40::4]
    try:
        nequip_seconds, nequip_mae = nequip_fit(train[:n], valid, test, steps, batch)
        peer_note = f"nequip: force MAE {1e3 * nequip_mae:.0f} meV/Å"
    except ImportError as error:
        nequip_seconds, nequip_mae, peer_note = None, None, f"nequip not installed ({error})"
    rows = []
    for l_max in (0, 1, 2):
        m = model(l_max)
        steps_per_epoch = -(-n // batch)
        history = fit(m, train[:n], valid, epochs=-(-steps // steps_per_epoch), batch_size=batch, lr=5e-3,
                      energy_weight=10.0, patience=10_000, progress=False)
        seconds = float(np.diff(history["time"]).min()) / steps_per_epoch if len(history["time"]) > 1 \
            else history["time"][0] / steps_per_epoch
        errors = evaluate(m, test)
        mae = errors["force_mae"]
        ratio = f", {mae / nequip_mae:.2f}x nequip's" if nequip_mae else ""
        rows.append(Row(f"ethanol, l_max = {l_max}, step of {batch} molecules", seconds, "nequip l_max=2",
                        nequip_seconds, note=f"minnp force MAE {1e3 * mae:.0f} meV/Å{ratio} after {steps} steps on "
                                             f"{n} structures; {peer_note}"))
    return rows + learning_curve(train[:-40], valid, test, quick, batch)
