"""PINN (notebook 12's Si model): training throughput on mlearn DFT Si, against the HDNNP and the refitted Tersoff

All three models of notebook 12, trained by ``minnp.train.fit`` with the energy + force loss on the
mlearn Si training split (``minnp.datasets.load("mlearn_si")``, 214 structures, 13,560 atoms;
``--quick`` takes the first 48 of them), float64, mini-batches of 8 and energies weighted 10 (notebook 12's recipe), validation included:

- PINN: notebook 07's ACSF (r_c = 3.5 Å, 25 features), eight varied Tersoff parameters, one
  64-64 network per parameter (PINN's default), descriptors and their derivatives precomputed (``fit``'s default);
  each step evaluates Tersoff with per-atom parameters and its double backward.
- peers inside minnp: the HDNNP on the same descriptor (only networks per step), and
  ``FittableTersoff`` (Tersoff's own parameters trained, no network). A speed-up below 1 means the
  PINN epoch is slower than the peer's.
- On a GPU: the PINN epoch on CUDA (throughput only).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from benchmarks.bench_hdnnp import si_model
from benchmarks.harness import Row
from minnp import datasets, train
from minnp.models import PINN
from minnp.potentials.fittable_tersoff import FittableTersoff


def pinn_model() -> PINN:
    torch.manual_seed(0)
    return PINN(si_model().descriptor, base=FittableTersoff.from_name("Si(C)"))


def epoch_seconds(model, structures, valid, epochs: int) -> float:
    """Seconds of one training epoch (the fastest after the first), validation included."""
    with warnings.catch_warnings():  # a few epochs: which one validates best is not the point here
        warnings.simplefilter("ignore", UserWarning)
        history = train.fit(model, structures, valid, epochs=epochs, batch_size=8, energy_weight=10.0,
                            force_weight=1.0, patience=epochs, progress=False)
    return float(np.diff(history["time"]).min())


def run(quick: bool) -> list[Row]:
    structures = [a for a in datasets.load("mlearn_si") if a.info["split"] == "train"]
    train_set, valid_set = structures[20:], structures[:20]
    if quick:
        train_set, valid_set = train_set[:48], valid_set[:8]
    n_structures, n_atoms = len(train_set), sum(len(a) for a in train_set)
    epochs = 3 if quick else 4
    pinn = epoch_seconds(pinn_model(), train_set, valid_set, epochs)
    hdnnp = epoch_seconds(si_model(), train_set, valid_set, epochs)
    tersoff = epoch_seconds(FittableTersoff.from_name("Si(C)"), train_set, valid_set, epochs)
    note = f"{n_structures / pinn:,.0f} structures/s, {n_atoms / pinn:,.0f} atoms/s"
    rows = [Row(f"PINN train epoch E+F, {n_structures} structures, CPU", pinn, "HDNNP (same ACSF)", hdnnp, note=note),
            Row(f"PINN train epoch E+F, {n_structures} structures, CPU", pinn, "FittableTersoff", tersoff,
                note=f"Tersoff alone: {n_atoms / tersoff:,.0f} atoms/s")]
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        seconds = epoch_seconds(pinn_model().to("cuda"), train_set, valid_set, epochs)
        rows.append(Row(f"PINN train epoch E+F, {n_structures} structures, {gpu}", seconds, "-", None,
                        note=f"{n_atoms / seconds:,.0f} atoms/s"))
    return rows
