"""HDNNP (notebook 07's Si model): training throughput on energies + forces, and inference against the Tersoff teacher

The model is notebook 07's: ACSF with r_c = 3.5 Å (G1, 12 G2, 12 G5: 25 features), two layers of
32 tanh units, float64, trained by ``minnp.train.fit`` with the energy + force loss on the Si
teacher set (``minnp.datasets.load("si_tersoff")``: 594 training structures, 22,814 atoms, as in
the notebook; ``--quick`` takes the first 64 of them).

- Training, one epoch over the training set (Adam steps on mini-batches of 16, validation
  included): with the descriptors and their derivatives precomputed (``fit``'s default), against
  ``precompute=False`` (descriptors, triples and their double backward recomputed every step).
  Throughput in structures/s and atoms/s; the one-off precomputation is its own row.
- Inference, energy + forces from ``Atoms`` (neighbour list included) through
  ``minnp.compute``, against the teacher it imitates, minnp's Tersoff Si(C), on the same
  structures: a batch of 16 64-atom MD frames and a 4096-atom diamond cell. A speed-up below 1
  means the network is slower than the potential it learned.
- On a GPU: the same training epoch and the 4096-atom inference on CUDA (no peer; throughput).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from ase.build import bulk

from benchmarks.harness import Row, best_time
from minnp import atoms_to_batch, compute, data, datasets, train
from minnp.descriptors import ACSF
from minnp.models import HDNNP
from minnp.potentials import Tersoff


def si_model() -> HDNNP:
    """Notebook 07's network: 25 ACSF at r_c = 3.5 Å, two layers of 32 tanh units."""
    acsf = ACSF(["Si"], r_cut=3.5, periodic=True,
                g2_params=[[0.5, 0.0]] + [[8.0, r_s] for r_s in (2.1, 2.3, 2.5)]
                + [[25.0, r_s] for r_s in (2.6, 2.7, 2.8, 2.9, 3.0, 3.1, 3.2)] + [[8.0, 3.3]],
                g5_params=[[eta, zeta, lambda_] for eta in (0.005, 0.1) for zeta in (1, 2, 4) for lambda_ in (1, -1)])
    torch.manual_seed(0)
    return HDNNP(acsf, hidden=(32, 32))


def epoch_seconds(structures, valid, device: str, precompute: bool, epochs: int) -> float:
    """Seconds of one training epoch (the fastest after the first), validation included."""
    model = si_model().to(device)
    history = train.fit(model, structures, valid, epochs=epochs, batch_size=16, energy_weight=100.0,
                        force_weight=1.0, patience=epochs, progress=False, precompute=precompute)
    return float(np.diff(history["time"]).min())


def precompute_seconds(structures, device: str) -> float:
    """The one-off part of training: every mini-batch's descriptors and their pair derivatives."""
    model = si_model().to(device)
    chunks = train.minibatches(structures, 16, 0, torch.device(device), torch.float64)
    start = time.perf_counter()
    for mb in chunks:
        model.precompute(mb.batch)
    return time.perf_counter() - start


def inference_call(model, structures, device: str):
    def call():
        with warnings.catch_warnings():  # the range check runs (and is timed); its message is not the point here
            warnings.simplefilter("ignore")
            return compute(model, atoms_to_batch(structures, device=device), forces=True)["forces"]
    return call


def run(quick: bool) -> list[Row]:
    structures = datasets.load("si_tersoff")
    train_set, valid_set, _ = data.group_split(structures, ["diamond 900 K"], val_fraction=0.1, seed=0)
    if quick:
        train_set, valid_set = train_set[:64], valid_set[:8]
    n_structures, n_atoms = len(train_set), sum(len(a) for a in train_set)
    epochs = 3 if quick else 4
    rows = []

    cached = epoch_seconds(train_set, valid_set, "cpu", precompute=True, epochs=epochs)
    direct = epoch_seconds(train_set, valid_set, "cpu", precompute=False, epochs=2 if quick else 3)
    rows.append(Row(f"train epoch E+F, {n_structures} structures, CPU", cached, "precompute=False", direct,
                    note=f"{n_structures / cached:,.0f} structures/s, {n_atoms / cached:,.0f} atoms/s "
                         f"(without precompute: {n_atoms / direct:,.0f} atoms/s)"))
    once = precompute_seconds(train_set, "cpu")
    rows.append(Row("  once before training: descriptors + derivatives", once, "-", None,
                    note=f"{n_atoms / once:,.0f} atoms/s = {once / cached:.0f} cached epochs"))

    model = si_model()
    model.fit_scaling(train_set)
    model.fit_energy_shift(train_set)
    model.eval()
    teacher = Tersoff.from_name("Si(C)")
    frames = [a for a in structures if a.info["group"] == "diamond 900 K"][:16]
    big = bulk("Si", "diamond", a=5.432, cubic=True) * ((4, 4, 4) if quick else (8, 8, 8))
    big.rattle(0.05, seed=0)
    for name, atoms in (("16 x 64-atom MD frames", frames), (f"{len(big)}-atom diamond cell", big)):
        count = sum(len(a) for a in atoms) if isinstance(atoms, list) else len(atoms)
        ours = best_time(inference_call(model, atoms, "cpu"), repeat=3)
        peer = best_time(inference_call(teacher, atoms, "cpu"), repeat=3)
        rows.append(Row(f"inference E+F, {name}, CPU", ours, "Tersoff Si(C) (minnp)", peer,
                        note=f"{count / ours:,.0f} atoms/s (teacher {count / peer:,.0f})"))

    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        cached = epoch_seconds(train_set, valid_set, "cuda", precompute=True, epochs=epochs)
        rows.append(Row(f"train epoch E+F, {n_structures} structures, {gpu}", cached, "-", None,
                        note=f"{n_structures / cached:,.0f} structures/s, {n_atoms / cached:,.0f} atoms/s"))
        model, teacher = model.to("cuda"), teacher.to("cuda")
        ours = best_time(inference_call(model, big, "cuda"), repeat=5)
        peer = best_time(inference_call(teacher, big, "cuda"), repeat=5)
        rows.append(Row(f"inference E+F, {len(big)}-atom cell, {gpu}", ours, "Tersoff Si(C) on CUDA", peer,
                        note=f"{len(big) / ours:,.0f} atoms/s (teacher {len(big) / peer:,.0f})"))
    return rows
