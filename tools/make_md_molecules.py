"""Making ``data/md_molecules_xtb``: small organic molecules at 500 K, GFN2-xTB (repository tooling).

    OMP_NUM_THREADS=1 python -m tools.make_md_molecules [--n-train N] [--n-test N] [--seed S] [--out DIR]

(one thread: tblite's OpenMP threads only spin on molecules of nine atoms, ~1 ms of CPU per MD step.)

Notebook 14 learns forces of ethanol and malonaldehyde (two molecules of the rMD17 benchmark,
Christensen & von Lilienfeld, Mach. Learn.: Sci. Technol. 1, 045018 (2020)) and compares an
invariant with an equivariant network on them. rMD17 itself is DFT (PBE/def2-SVP) and not
redistributable under a licence the course can ship, so the course makes its own: the same
molecules, the same kind of sampling (molecular dynamics at about 500 K), labelled by GFN2-xTB
through ``tblite``, the labeller of the course's other sets (:mod:`tools.make_datasets`, whose
functions this script imports rather than copies).

For each molecule: relax with GFN2-xTB, then two independent Langevin trajectories at 500 K
(0.5 fs steps, friction 0.01/fs, 1000 steps to equilibrate, a frame every 10 steps = 5 fs),
each with its own random stream: trajectory 1 gives the training frames (``info["split"] =
"train"``), trajectory 2 the test frames (``"test"``). A random split of frames 5 fs apart
would put near-copies of every test frame into training; separate trajectories do not.
Every frame is labelled from scratch (:func:`tools.make_datasets.xtb_label`, tight SCF) at
positions rounded to the stored 1e-8 Å.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from ase import Atoms
from ase.build import molecule

from minnp import data
from tools.make_datasets import (
    DATA,
    GFN2xTB,
    _md_frames,
    _rng,
    _versions,
    _write_text,
    _xtb_relaxed,
    overview_figure,
    xtb_label,
)

NAME = "md_molecules_xtb"
TEMPERATURE = 500.0  # K
TIMESTEP_FS = 0.5
STRIDE = 10  # MD steps between stored frames (5 fs)
N_EQUILIBRATE = 1000  # steps (0.5 ps) before the first frame


def malonaldehyde() -> Atoms:
    """(Z)-3-hydroxyprop-2-enal, the enol with its O-H...O hydrogen bond, planar; relaxed later."""
    return Atoms("OCCCOHHHH", positions=[
        [-1.25, 1.20, 0.0], [-1.20, -0.05, 0.0], [0.00, -0.75, 0.0], [1.20, -0.05, 0.0],  # O=C-C=C
        [1.25, 1.25, 0.0], [0.35, 1.55, 0.0],  # O-H pointing at the carbonyl O
        [-2.15, -0.60, 0.0], [0.00, -1.83, 0.0], [2.15, -0.60, 0.0]])  # C-H


MOLECULES = {"ethanol": lambda: molecule("CH3CH2OH"), "malonaldehyde": malonaldehyde}


def make_md_molecules(n_train: int = 1500, n_test: int = 500, seed: int = 0, progress: bool = True,
                      dropped: list | None = None) -> list[Atoms]:
    """Train and test trajectories of each molecule at 500 K, every frame labelled with GFN2-xTB."""
    structures = []
    for name, build in MOLECULES.items():
        start = _xtb_relaxed(build(), 0.0)
        for trajectory, (split, n_frames) in enumerate((("train", n_train), ("test", n_test)), start=1):
            group = f"{name} {TEMPERATURE:g} K, trajectory {trajectory}"
            frames = _md_frames(start, GFN2xTB(0.0), TEMPERATURE, n_frames, STRIDE, N_EQUILIBRATE, TIMESTEP_FS,
                                _rng(seed, group), desc=group, progress=progress, group=group, split=split,
                                molecule=name)
            for k, frame in enumerate(frames):
                labelled = xtb_label(frame, 0.0)
                if labelled is None:
                    (dropped if dropped is not None else []).append((group, k))
                else:
                    labelled.info["frame"] = k
                    structures.append(labelled)
    return structures


def make(root: Path = DATA, figure: bool = True, **parameters) -> list[Atoms]:
    """Write ``root/md_molecules_xtb/`` (structures, overview figure, generation record) and print
    the line for ``data/SHA256SUMS``; each file is replaced atomically after the set is made."""
    folder = Path(root) / NAME
    folder.mkdir(parents=True, exist_ok=True)
    dropped: list = []
    start = time.perf_counter()
    structures = make_md_molecules(**parameters, dropped=dropped)
    seconds = time.perf_counter() - start
    path = folder / f"{NAME}.extxyz.gz"
    data.write(path, structures)
    if figure:
        fig = overview_figure(structures, "group", title=f"{NAME}: {len(structures)} structures")
        with data.atomic_path(folder / "overview.png") as tmp:
            fig.savefig(tmp, dpi=80, format="png")
    groups: dict[str, int] = {}
    for atoms in structures:
        groups[atoms.info["group"]] = groups.get(atoms.info["group"], 0) + 1
    from minnp.datasets import sha256

    record = {
        "command": "python -m tools.make_md_molecules"
                   + "".join(f" --{k.replace('_', '-')} {v}" for k, v in parameters.items()),
        "parameters": parameters | {"temperature_K": TEMPERATURE, "timestep_fs": TIMESTEP_FS, "stride": STRIDE,
                                    "n_equilibrate": N_EQUILIBRATE},
        "structures": len(structures),
        "atoms": int(sum(len(a) for a in structures)),
        "groups": groups,
        "dropped_not_converged": len(dropped),
        "seconds": round(seconds, 1),
        "versions": _versions(),
        "file": path.name,
        "sha256": sha256(path),
    }
    _write_text(folder / "generation.json", json.dumps(record, indent=2) + "\n")
    print(f"{record['sha256']}  {NAME}/{path.name}")
    return structures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.make_md_molecules", description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, help="frames of each molecule's training trajectory")
    parser.add_argument("--n-test", type=int, help="frames of each molecule's test trajectory")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--out", type=Path, default=DATA, help="the data folder (default: the repository's data/)")
    args = parser.parse_args(argv)
    parameters = {k: v for k, v in (("n_train", args.n_train), ("n_test", args.n_test), ("seed", args.seed))
                  if v is not None}
    structures = make(root=args.out, **parameters)
    print(f"{NAME}: {len(structures)} structures written to {args.out / NAME}")


if __name__ == "__main__":
    main()
