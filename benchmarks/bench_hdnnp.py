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
- Against TorchANI's ANI model (``benchmarks/torchani_peer.py``), one thread, float64, the same
  training structures, mini-batches of 16, the same loss (energies per atom + forces) and Adam:
  minnp's HDNNP on an ACSF with ANI-1x's counts (G1 + 16 G2 with ANI's eta and shifts, 32 G5:
  49 features) against TorchANI's AEVComputer (16 radial + 32 angular: 48) with ``ANINetworks``,
  both 25 x 25 tanh. One cutoff of 3.5 Å for both parts (minnp's ACSF has one; TorchANI's
  angular cutoff 3.5 - 1e-9 Å; with a larger radial cutoff, ANI-1x's 5.2, TorchANI would only
  do more work). TorchANI trains on forces as it is meant to, by double backward through its
  AEVs every step (its neighbour lists made once per mini-batch, as minnp's are); minnp
  precomputes descriptors and their pair Jacobians once. Training throughput: one epoch
  (validation included), goal at least TorchANI's atoms/s; inference: energy + forces from
  Atoms, neighbour lists included, on the 16 frames and the big cell, goal likewise.
- On a GPU: the same training epoch and the 4096-atom inference on CUDA (no peer; throughput).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from ase.build import bulk

from benchmarks import torchani_peer
from benchmarks.bench_acsf import G5_ANI, ani_g2, interleaved_best_times
from benchmarks.harness import Row, best_time, one_thread
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

    rows += torchani_rows(train_set, valid_set, frames, big, quick)

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


# ---- against TorchANI's ANI model -------------------------------------------------------------

ANI_R_CUT = 3.5  # one cutoff for radial and angular parts, both codes
HIDDEN = (25, 25)
BATCH = 16


def ani_count_model() -> HDNNP:
    """minnp's HDNNP on an ACSF with ANI-1x's counts at one cutoff: G1 + 16 G2 + 32 G5, 25 x 25 tanh."""
    acsf = ACSF(["Si"], r_cut=ANI_R_CUT, g2_params=ani_g2(ANI_R_CUT), g5_params=G5_ANI, periodic=True)
    torch.manual_seed(0)
    return HDNNP(acsf, hidden=HIDDEN)


class TorchANIModel:
    """TorchANI's AEVComputer + ANINetworks (25 x 25 tanh) with self energies, float64."""

    def __init__(self, structures):
        self.aev = torchani_peer.aev_computer(1, ANI_R_CUT, ANI_R_CUT - 1e-9)
        torch.manual_seed(0)
        self.networks = torchani_peer.networks(["Si"], self.aev.out_dim, HIDDEN, activation=torch.nn.Tanh())
        self.self_energies = torch.tensor(torchani_peer.self_energies(structures, ["Si"]))

    def batch(self, structures, labels: bool = False):
        return torchani_peer.AniBatch(structures, ["Si"], ANI_R_CUT, labels=labels)

    def __call__(self, batch, create_graph: bool = False):
        return torchani_peer.energies_and_forces(self.aev, self.networks, self.self_energies, batch,
                                                 create_graph=create_graph)


def torchani_epoch_seconds(model: TorchANIModel, train_set, valid_set, epochs: int) -> tuple[float, float]:
    """Seconds of one TorchANI training epoch (the fastest after the first), validation with
    forces included as in ``minnp.train.fit``, and the seconds its neighbour lists took once."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    order = rng.permutation(len(train_set))
    train_batches = [model.batch([train_set[k] for k in order[i:i + BATCH]], labels=True)
                     for i in range(0, len(train_set), BATCH)]
    valid_batches = [model.batch(valid_set[i:i + 4 * BATCH], labels=True) for i in range(0, len(valid_set), 4 * BATCH)]
    once = time.perf_counter() - start
    optimizer = torch.optim.Adam(model.networks.parameters(), lr=3e-3)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for k in rng.permutation(len(train_batches)):
            b = train_batches[k]
            energy, forces = model(b, create_graph=True)
            loss = 100.0 * (((energy - b.energy) / b.n_atoms) ** 2).mean() + ((forces - b.forces) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        errors = 0.0  # the validation pass, energies and forces (fit's learning-rate schedule needs it)
        for b in valid_batches:
            energy, forces = (x.detach() for x in model(b))
            errors += float((((energy - b.energy) / b.n_atoms) ** 2).sum() + ((forces - b.forces) ** 2).sum())
        seconds.append(time.perf_counter() - start)
    return min(seconds[1:]), once


def torchani_rows(train_set, valid_set, frames, big, quick: bool) -> list[Row]:
    try:
        peer = f"TorchANI {torchani_peer.version()}"
    except ImportError:
        return [Row("TorchANI training comparison", float("nan"), "TorchANI", None,
                    note="torchani not installed: pip install -e '.[bench]' (make bench does)")]
    rows = []
    with one_thread():
        n_atoms = sum(len(a) for a in train_set)
        epochs = 3 if quick else 4
        ours = theirs = float("inf")
        for _ in range(2 if quick else 1):  # in turn: a busy spell of a shared machine slows both
            with warnings.catch_warnings():  # fit's advice about the linear baseline is not the point here
                warnings.simplefilter("ignore", UserWarning)
                model = ani_count_model()
                history = train.fit(model, train_set, valid_set, epochs=epochs, batch_size=BATCH,
                                    energy_weight=100.0, force_weight=1.0, patience=epochs, progress=False)
            ours = min(ours, float(np.diff(history["time"]).min()))
            ani = TorchANIModel(train_set)
            seconds, ani_once = torchani_epoch_seconds(ani, train_set, valid_set, epochs)
            theirs = min(theirs, seconds)
        start = time.perf_counter()  # minnp's one-off part: descriptors and pair Jacobians
        for mb in train.minibatches(train_set, BATCH, 0, torch.device("cpu"), torch.float64):
            model.precompute(mb.batch)
        ours_once = time.perf_counter() - start
        features = f"F {model.descriptor.get_number_of_features()} vs {ani.aev.out_dim}"
        rows.append(Row(f"train epoch E+F vs TorchANI, {len(train_set)} structures, 1 thread", ours, peer, theirs,
                        goal=1.0, note=f"{n_atoms / ours:,.0f} vs {n_atoms / theirs:,.0f} atoms/s; {features}, "
                                       f"25x25 tanh, batch {BATCH}, r_c {ANI_R_CUT} Å; once before training: "
                                       f"minnp precompute {ours_once:.2f} s, TorchANI neighbour lists "
                                       f"{ani_once:.2f} s"))
        model.eval()
        for name, atoms in (("16 x 64-atom MD frames", frames), (f"{len(big)}-atom diamond cell", big)):
            structures = atoms if isinstance(atoms, list) else [atoms]
            count = sum(len(a) for a in structures)
            ours, theirs = interleaved_best_times(inference_call(model, atoms, "cpu"),
                                                  lambda structures=structures: ani(ani.batch(structures)), repeat=5)
            prebuilt = ani.batch(structures)
            without_lists = best_time(lambda prebuilt=prebuilt: ani(prebuilt), repeat=5)
            rows.append(Row(f"inference E+F vs TorchANI, {name}, 1 thread", ours, peer, theirs, goal=1.0,
                            note=f"{count / ours:,.0f} vs {count / theirs:,.0f} atoms/s, neighbour lists included "
                                 f"(TorchANI without its lists: {1e3 * without_lists:.1f} ms)"))
    return rows
