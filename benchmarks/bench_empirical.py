"""Empirical potentials: minnp EAM and Tersoff against ASE's EAM and Tersoff calculators, energy + forces

Both sides do the whole calculation from an ASE ``Atoms``: neighbour list, energy and forces
(minnp: ``atoms_to_batch`` + ``compute``; ASE: ``calculate`` with every system change). Cases:
864-atom fcc Cu (6x6x6 cubic cells) with the Zhou 2004 Cu EAM tabulated as a setfl file that
both read (goal 20x), and 512-atom diamond Si (4x4x4) with Tersoff's Si(C) (goal 10x). The two
sides are first checked to agree. On a GPU, minnp's throughput on larger cells is reported in
atoms per second (no peer).
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

from benchmarks.harness import Row, best_time
from minnp import atoms_to_batch, compute
from minnp.potentials import EAM, Tersoff, ZhouEAM
from minnp.potentials.tersoff import NAMED_SETS


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


def compare(ours, theirs, what: str) -> str:
    (e1, f1), (e2, f2) = ours(), theirs()
    f1 = f1.detach().cpu().numpy()
    d_e, d_f = abs(e1 - e2), np.abs(f1 - f2).max()
    assert d_e < 1e-3 and d_f < 1e-3, f"{what}: minnp and ASE disagree (ΔE {d_e:.2g} eV, ΔF {d_f:.2g} eV/Å)"
    return f"|ΔE| {d_e:.0e} eV, max|ΔF| {d_f:.0e} eV/Å"


def run(quick: bool) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        setfl = pathlib.Path(tmp) / "Cu_zhou2004.eam.alloy"
        ZhouEAM(["Cu"]).write_setfl(setfl)
        eam, ase_eam = EAM.from_file(setfl), AseEAM(potential=str(setfl))
    si_c = NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"]
    tersoff = Tersoff.from_name("Si(C)")
    ase_tersoff = AseTersoff({("Si", "Si", "Si"): TersoffParameters(
        m=si_c.m, gamma=si_c.gamma, lambda3=si_c.lambda3, c=si_c.c, d=si_c.d, h=si_c.costheta0, n=si_c.n,
        beta=si_c.beta, lambda2=si_c.lambda2, B=si_c.B, R=si_c.R, D=si_c.D, lambda1=si_c.lambda1, A=si_c.A)})

    cases = [("EAM", eam, ase_eam, copper(3 if quick else 6), 20.0),
             ("Tersoff Si(C)", tersoff, ase_tersoff, silicon(2 if quick else 4), 10.0)]
    for name, model, peer, atoms, goal in cases:
        ours, theirs = minnp_call(model, atoms), ase_call(peer, atoms)
        note = compare(ours, theirs, name)
        repeat = 3 if quick else 5
        rows.append(Row(f"{len(atoms)}-atom {atoms.get_chemical_formula(mode='reduce')[:2]} {name}, E+F",
                        best_time(ours, repeat=repeat), f"ASE {type(peer).__name__}",
                        best_time(theirs, repeat=1 if quick else 3), goal=goal, note=note))

    if torch.cuda.is_available():
        for name, model, atoms in [("EAM", eam, copper(12 if quick else 20)),
                                   ("Tersoff Si(C)", tersoff, silicon(8 if quick else 14))]:
            model = model.to("cuda")
            seconds = best_time(minnp_call(model, atoms, "cuda"), repeat=5)
            rows.append(Row(f"{len(atoms)}-atom {name}, E+F on {torch.cuda.get_device_name(0)}", seconds,
                            "-", None, note=f"{len(atoms) / seconds:,.0f} atoms/s"))
    return rows
