"""Making the course's data sets: sampling, labelling, and writing ``data/NAME/`` (repository tooling).

    python -m tools.make_datasets list                       which sets are present, and their checksums
    python -m tools.make_datasets verify                     stored files against data/SHA256SUMS
    python -m tools.make_datasets make NAME [--n-frames N] [--n-static N] [--seed S] [--out DIR]

Run from the repository root; it writes the repository's ``data/`` (or ``--out``). A learner's kernel
never imports this: it loads the stored sets with :func:`minnp.datasets.load`.

Each set is made by a function here (``make_si_tersoff``, ``make_carbon_chain_xtb``, ...) that takes
its sizes and a seed and shows a progress bar; :func:`make` runs it and writes
``data/NAME/NAME.extxyz.gz``, an overview figure, ``generation.json`` (parameters, counts,
versions) and the checksum in ``data/SHA256SUMS``, each file atomically. Every group of structures
(one MD trajectory, one strained phase) has its own random stream derived from the seed and the
group's name, so a group's first frames do not depend on how many are made.

The three charge-transfer sets (notebook 10) follow the systems of Ko, Finkler, Goedecker and
Behler, Nat. Commun. 12, 398 (2021), relabelled with GFN2-xTB (Bannwarth, Ehlert, Grimme,
JCTC 15, 1652 (2019)) through ``tblite``: a self-consistent tight-binding method whose atomic
(Mulliken-type) charges respond to the total charge, at milliseconds per structure.

Labels follow the contract of :mod:`minnp.data` (energy, forces, stress on a
SinglePointCalculator; ``arrays["charges"]``; ``info["charge"]``, ``info["group"]``,
``info["temperature"]``, ``info["phase"]``). Positions are rounded to 1e-8 Å, the precision of
the stored file, *before* labelling, so relabelling a stored structure reproduces its labels.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import zlib
from pathlib import Path
from typing import Callable, Sequence

import ase
import numpy as np
from ase import Atoms, units
from ase.build import diamond100, diamond111
from ase.calculators.calculator import Calculator as AseCalculator
from ase.calculators.calculator import all_changes
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary
from ase.optimize import BFGS
from tqdm.auto import tqdm

from minnp import data, datasets
from minnp.datasets import SI_A, carbon_chain, si_phases, si_teacher

ROOT = Path(__file__).resolve().parents[1]  # the repository: tools/ is never installed
DATA = ROOT / "data"
POSITION_DECIMALS = 8  # what extended XYZ stores (%16.8f); labels are computed at this geometry


def _rng(seed: int, group: str) -> np.random.Generator:
    """A random stream of its own for each group, stable across runs and Python versions."""
    return np.random.default_rng([seed, zlib.crc32(group.encode())])


def _snapshot(atoms: Atoms, **info) -> Atoms:
    """A bare copy with positions rounded to the stored precision, ready to be labelled."""
    copy = Atoms(numbers=atoms.numbers, positions=np.round(atoms.positions, POSITION_DECIMALS),
                 cell=atoms.cell.array, pbc=atoms.pbc)
    copy.info.update(info)
    return copy


def _bar(progress: bool, iterable=None, **kwargs):
    """A tqdm progress bar; ``progress=False`` turns it off (so does TQDM_DISABLE=1 otherwise)."""
    return tqdm(iterable, leave=False, **kwargs) if progress else tqdm(iterable, disable=True, **kwargs)


def _md_frames(atoms: Atoms, calculator, temperature: float, n_frames: int, stride: int,
               n_equilibrate: int, timestep_fs: float, rng: np.random.Generator, desc: str,
               progress: bool = True, **info) -> list[Atoms]:
    """Langevin MD at ``temperature`` (K): ``n_frames`` snapshots, ``stride`` steps apart."""
    atoms = atoms.copy()
    atoms.calc = calculator
    atoms.set_constraint(FixCom())
    # Maxwell-Boltzmann momenta, p ~ N(0, m k_B T) per component, without net momentum
    masses = atoms.get_masses()[:, None]  # (N, 1)
    atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(masses * units.kB * temperature))
    Stationary(atoms)
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature, friction=0.01 / units.fs,
                   fixcm=False, rng=rng)
    frames = []
    with _bar(progress, total=n_equilibrate + n_frames * stride, desc=desc, unit="step") as bar:
        dyn.run(n_equilibrate)
        bar.update(n_equilibrate)
        for _ in range(n_frames):
            dyn.run(stride)
            bar.update(stride)
            frames.append(_snapshot(atoms, temperature=float(temperature), **info))
    return frames


# ----------------------------------------------------------------------------------------------
# GFN2-xTB through tblite (Hartree and Bohr converted once, here)


def _tblite_singlepoint(numbers, positions, charge: float, accuracy: float):
    """Energy (eV), forces (eV/Å) and atomic charges (e) from GFN2-xTB; raises if SCF fails."""
    from tblite.interface import Calculator as TBLite

    calc = TBLite("GFN2-xTB", np.asarray(numbers), np.asarray(positions) / units.Bohr, charge=float(charge))
    calc.set("verbosity", 0)
    calc.set("accuracy", accuracy)
    return _from_tblite(calc.singlepoint())


def _from_tblite(result):
    """tblite's results in atomic units -> energy (eV), forces (eV/Å), atomic charges (e)."""
    energy = result.get("energy") * units.Hartree  # Ha -> eV
    forces = -result.get("gradient") * units.Hartree / units.Bohr  # Ha/Bohr -> eV/Å, F = -dE/dx
    return energy, forces, result.get("charges")


XTB_LABEL_ACCURACY = 0.01  # tblite's SCF thresholds scaled by 0.01: energy ~1e-8 Ha, charges ~1e-7 e


def xtb_label(atoms: Atoms, charge: float, accuracy: float = XTB_LABEL_ACCURACY) -> Atoms | None:
    """``atoms`` labelled with GFN2-xTB at total charge ``charge``, or None if the SCF did not converge."""
    from tblite.exceptions import TBLiteRuntimeError

    try:
        energy, forces, charges = _tblite_singlepoint(atoms.numbers, atoms.positions, charge, accuracy)
    except TBLiteRuntimeError:
        return None
    return data.label(atoms, energy=energy, forces=forces, charges=charges, charge=charge)


class GFN2xTB(AseCalculator):
    """GFN2-xTB as an ASE calculator (energy, forces, charges) for the MD that samples geometries.

    Each step starts its SCF from the previous step's wavefunction (fast, history-dependent);
    the stored labels come from :func:`xtb_label`, which always starts from scratch.
    """

    implemented_properties = ["energy", "free_energy", "forces", "charges"]

    def __init__(self, charge: float = 0.0, accuracy: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.charge, self.accuracy = charge, accuracy
        self._tblite = self._wavefunction = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from tblite.interface import Calculator as TBLite

        super().calculate(atoms, properties, system_changes)
        positions = self.atoms.positions / units.Bohr
        if self._tblite is None or "numbers" in system_changes:
            self._tblite = TBLite("GFN2-xTB", self.atoms.numbers, positions, charge=float(self.charge))
            self._tblite.set("verbosity", 0)
            self._tblite.set("accuracy", self.accuracy)
            self._wavefunction = None
        else:
            self._tblite.update(positions)
        self._wavefunction = self._tblite.singlepoint(self._wavefunction)
        energy, forces, charges = _from_tblite(self._wavefunction)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces, "charges": charges}


def _xtb_relaxed(atoms: Atoms, charge: float) -> Atoms:
    """The starting geometry, relaxed with GFN2-xTB (BFGS to 0.01 eV/Å)."""
    atoms = atoms.copy()
    atoms.calc = GFN2xTB(charge)
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=500)
    atoms.calc = None
    return atoms


def _xtb_set(systems: Sequence[tuple[str, Atoms, float]], temperatures: Sequence[float], n_frames: int,
             stride: int, n_equilibrate: int, timestep_fs: float, seed: int, progress: bool,
             label_charges: dict[str, Sequence[float]] | None = None,
             groups: Sequence[str] | None = None, dropped: list | None = None) -> list[Atoms]:
    """MD with GFN2-xTB for each (name, structure, charge) and temperature, then labels.

    Each frame is labelled with its own charge, or with every charge in ``label_charges[name]``
    (Ag3: the same geometry as a cation and as an anion). A geometry whose SCF does not converge
    for one of its charges is dropped; ``dropped``, if given, receives (group, frame) for each.
    """
    structures, lost = [], []
    for name, atoms, charge in systems:
        wanted = [t for t in temperatures if groups is None or f"{name} {t:g} K" in groups]
        start = _xtb_relaxed(atoms, charge) if wanted else None
        for temperature in wanted:
            group = f"{name} {temperature:g} K"
            frames = _md_frames(start, GFN2xTB(charge), temperature, n_frames, stride, n_equilibrate,
                                timestep_fs, _rng(seed, group), desc=group, progress=progress, group=group)
            for k, frame in enumerate(frames):
                labelled = [xtb_label(frame.copy(), q) for q in (label_charges or {}).get(name, [charge])]
                if any(a is None for a in labelled):
                    lost.append((group, k))  # the geometry goes, with all its charge states
                else:
                    structures.extend(labelled)
    if lost:
        print(f"dropped {len(lost)} geometries whose GFN2-xTB SCF did not converge", file=sys.stderr)
    if dropped is not None:
        dropped.extend(lost)
    return structures


def silver_trimer(linear: bool) -> Atoms:
    """Ag3: an equilateral triangle (Ag3+'s shape) or a linear chain (Ag3-'s), 2.7 Å bonds."""
    if linear:
        return Atoms("Ag3", positions=[[-2.7, 0, 0], [0, 0, 0], [2.7, 0, 0]])
    return Atoms("Ag3", positions=[[0, 0, 0], [2.7, 0, 0], [1.35, 2.7 * np.sqrt(3) / 2, 0]])


def nacl_cluster(neutral: bool = False) -> Atoms:
    """Na9Cl8+: a 3x3x2 rock-salt block (d = 2.82 Å) missing one corner Cl; ``neutral`` also
    removes the Na at the far corner, giving Na8Cl8."""
    sites = [(i, j, k) for k in range(2) for j in range(3) for i in range(3)]
    removed = {(0, 0, 1)} | ({(2, 2, 0)} if neutral else set())
    kept = [s for s in sites if s not in removed]
    symbols = ["Na" if sum(s) % 2 == 0 else "Cl" for s in kept]
    return Atoms(symbols, positions=2.82 * np.array(kept, dtype=float))


def make_carbon_chain_xtb(n_frames: int = 250, temperatures: Sequence[float] = (300, 600, 900, 1200),
                          seed: int = 0, progress: bool = True, groups: Sequence[str] | None = None,
                          dropped: list | None = None) -> list[Atoms]:
    """C10H2 and C10H3+: ``n_frames`` per charge state and temperature, 0.5 fs MD, frames 10 fs apart."""
    systems = [("C10H2", carbon_chain(False), 0.0), ("C10H3+", carbon_chain(True), 1.0)]
    return _xtb_set(systems, temperatures, n_frames, stride=20, n_equilibrate=400, timestep_fs=0.5,
                    seed=seed, progress=progress, groups=groups, dropped=dropped)


def make_ag3_xtb(n_frames: int = 125, temperatures: Sequence[float] = (300, 600, 900, 1200),
                 seed: int = 0, progress: bool = True, groups: Sequence[str] | None = None,
                 dropped: list | None = None) -> list[Atoms]:
    """Ag3 geometries from MD of Ag3+ and of Ag3- (``n_frames`` per trajectory, 2 fs steps, frames
    40 fs apart), every geometry labelled twice: as Ag3+ and as Ag3-."""
    systems = [("Ag3+", silver_trimer(linear=False), 1.0), ("Ag3-", silver_trimer(linear=True), -1.0)]
    both = {"Ag3+": [1.0, -1.0], "Ag3-": [1.0, -1.0]}
    return _xtb_set(systems, temperatures, n_frames, stride=20, n_equilibrate=200, timestep_fs=2.0,
                    seed=seed, progress=progress, label_charges=both, groups=groups,
                    dropped=dropped)


def make_nacl_xtb(n_frames: int = 250, temperatures: Sequence[float] = (300, 600, 900, 1200),
                  seed: int = 0, progress: bool = True, groups: Sequence[str] | None = None,
                 dropped: list | None = None) -> list[Atoms]:
    """Na9Cl8+ and Na8Cl8: ``n_frames`` per charge state and temperature, 2 fs MD, frames 20 fs apart."""
    systems = [("Na9Cl8+", nacl_cluster(neutral=False), 1.0), ("Na8Cl8", nacl_cluster(neutral=True), 0.0)]
    return _xtb_set(systems, temperatures, n_frames, stride=10, n_equilibrate=200, timestep_fs=2.0,
                    seed=seed, progress=progress, groups=groups, dropped=dropped)


# ----------------------------------------------------------------------------------------------
# Si labelled with Tersoff's Si(C)


def _label_with(calculator, atoms: Atoms) -> Atoms:
    """Energy, forces and stress from ``calculator``, stored as a SinglePointCalculator."""
    atoms.calc = calculator
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    return data.label(atoms, energy=energy, forces=forces, stress=stress)


def _strained(atoms: Atoms, rng: np.random.Generator, max_isotropic: float, max_shear: float,
              rattle: float) -> Atoms:
    """A copy under a random homogeneous strain, ε = e·1 + symmetric shear, with |e| ≤ max_isotropic
    and each shear component ≤ max_shear, plus Gaussian displacements of width ``rattle`` (Å)."""
    shear = rng.uniform(-max_shear, max_shear, (3, 3))
    eps = np.triu(shear, 1) + np.triu(shear, 1).T + rng.uniform(-max_isotropic, max_isotropic) * np.eye(3)
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    strained.positions += rng.normal(scale=rattle, size=(len(atoms), 3))
    return strained


def _slab(surface: str) -> Atoms:
    """A 32-atom Si slab with 10 Å of vacuum, periodic in all three directions."""
    build = {"(100)": diamond100, "(111)": diamond111}[surface]
    slab = build("Si", size=(2, 2, 8), a=SI_A, vacuum=5.0)
    slab.pbc = True
    return slab


def make_si_tersoff(n_frames: int = 40, n_static: int = 50,
                    temperatures: Sequence[float] = (300, 600, 900, 1200, 1500), seed: int = 0,
                    calculator=None, progress: bool = True, groups: Sequence[str] | None = None
                    ) -> list[Atoms]:
    """The Si teacher set: structures, then energies, forces and stress from ``calculator``
    (default :func:`si_teacher`, Tersoff Si(C)).

    Groups (``info["group"]``; ``info["phase"]`` and, for MD, ``info["temperature"]`` too):

    - ``diamond strained``: 2·n_static 8-atom cells, up to ±4 % strain along each axis (±12 %
      in volume) and ±2 % shear, 0.05 Å rattle
    - ``beta-Sn``, ``sc``, ``bcc``, ``fcc``: n_static cells each (8-32 atoms), the same
    - ``diamond T K``: 64-atom NVT (Langevin, 1 fs) at each temperature, n_frames frames 20 fs apart
    - ``vacancy 900 K``: 63 atoms, n_frames frames
    - ``surface (100) 900 K``, ``surface (111) 900 K``: 32-atom slabs, n_frames frames each
    - ``liquid 3000 K``: 64 atoms melted at 5000 K (2 ps), 2·n_frames frames at 3000 K

    ``groups`` makes only the groups named (every make function takes it): each group has its own
    random stream, so its structures are the same as in the full set.
    """
    calculator = calculator if calculator is not None else si_teacher()
    structures = []

    def static(group: str, phase: str, atoms: Atoms, count: int):
        if groups is not None and group not in groups:
            return
        rng = _rng(seed, group)
        for _ in range(count):
            strained = _strained(atoms, rng, max_isotropic=0.04, max_shear=0.02, rattle=0.05)
            structures.append(_snapshot(strained, group=group, phase=phase))

    def md(group: str, phase: str, atoms: Atoms, temperature: float, count: int, n_equilibrate: int = 300):
        if groups is not None and group not in groups:
            return
        frames = _md_frames(atoms, calculator, temperature, count, stride=20, n_equilibrate=n_equilibrate,
                            timestep_fs=1.0, rng=_rng(seed, group), desc=group, progress=progress,
                            group=group, phase=phase)
        structures.extend(frames)

    phases = si_phases()
    static("diamond strained", "diamond", phases["diamond"], 2 * n_static)
    for phase in ("beta-Sn", "sc", "bcc", "fcc"):
        static(phase, phase, phases[phase], n_static)
    cell64 = phases["diamond"] * (2, 2, 2)
    for temperature in temperatures:
        md(f"diamond {temperature:g} K", "diamond", cell64, temperature, n_frames)
    md("vacancy 900 K", "vacancy", cell64[1:], 900.0, n_frames)
    for surface in ("(100)", "(111)"):
        md(f"surface {surface} 900 K", "surface", _slab(surface), 900.0, n_frames)
    if groups is None or "liquid 3000 K" in groups:
        (melt,) = _md_frames(cell64, calculator, 5000.0, 1, stride=0, n_equilibrate=2000, timestep_fs=1.0,
                             rng=_rng(seed, "melt"), desc="melting at 5000 K", progress=progress)
        md("liquid 3000 K", "liquid", melt, 3000.0, 2 * n_frames, n_equilibrate=500)

    return [_label_with(calculator, atoms) for atoms in _bar(progress, structures, desc="Tersoff labels")]


# ----------------------------------------------------------------------------------------------
# the registry, the overview figure, checksums, and the command line

# name -> (make function, the info key whose values colour the overview figure)
MAKERS: dict[str, tuple[Callable[..., list[Atoms]], str]] = {
    "si_tersoff": (make_si_tersoff, "phase"),
    "carbon_chain_xtb": (make_carbon_chain_xtb, "charge"),
    "ag3_xtb": (make_ag3_xtb, "charge"),
    "nacl_xtb": (make_nacl_xtb, "charge"),
}
assert set(MAKERS) <= set(datasets.SETS), "every set made here is one minnp.datasets knows"


def _system(atoms: Atoms) -> str:
    """The group without its temperature: 'C10H3+ 600 K' -> 'C10H3+', 'surface (100) 900 K' -> 'surface (100)'."""
    words = str(atoms.info.get("group", "")).split()
    return " ".join(words[:-2] if len(words) > 2 and words[-1] == "K" else words)


def _for_picture(atoms: Atoms) -> Atoms:
    """A cluster turned so its longest extent lies along x and its shortest along the view (z)."""
    if atoms.pbc.any():
        wrapped = atoms.copy()
        wrapped.wrap()
        return wrapped
    centred = atoms.positions - atoms.positions.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)  # rows: directions of decreasing extent
    return Atoms(atoms.numbers, positions=centred @ axes.T)


def overview_figure(structures: Sequence[Atoms], key: str, title: str = ""):
    """One figure per set: one structure of each kind, energy and force distributions by
    ``info[key]``, and the atomic charges by charge state (or, without charges, energy
    against volume)."""
    from matplotlib.figure import Figure  # not pyplot: no backend is touched, nothing stays open
    from ase.visualize.plot import plot_atoms

    kinds = sorted({a.info.get(key) for a in structures}, key=str)
    name = {k: (f"Q = {k:+g} e" if key == "charge" else str(k)) for k in kinds}
    systems = list(dict.fromkeys(_system(a) for a in structures))
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
    pictures = np.atleast_1d(top.subplots(1, len(systems)))
    for ax, system in zip(pictures, systems):
        atoms = next(a for a in structures if _system(a) == system)
        rotation = "0x" if not atoms.pbc.any() else "10x,-10y"
        plot_atoms(_for_picture(atoms), ax, rotation=rotation, radii=0.5)
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        half = max(x1 - x0, y1 - y0, 8.0) / 2  # a small cluster is not blown up to fill its panel
        ax.set(xlim=((x0 + x1) / 2 - half, (x0 + x1) / 2 + half), ylim=((y0 + y1) / 2 - half, (y0 + y1) / 2 + half))
        ax.set_title(f"{system}\n{atoms.get_chemical_formula()}", fontsize=9)
        ax.set_axis_off()
    ax_e, ax_f, ax_q = bottom.subplots(1, 3)
    with_charges = "charges" in structures[0].arrays
    for kind in kinds:
        chosen = [a for a in structures if a.info.get(key) == kind]
        e = [a.get_potential_energy() / len(a) for a in chosen]
        f = np.concatenate([np.linalg.norm(a.get_forces(), axis=1) for a in chosen])
        ax_e.hist(e, bins=40, histtype="step", label=f"{name[kind]} ({len(chosen)})")
        ax_f.hist(f, bins=60, histtype="step", log=True)
        if with_charges:
            for symbol in sorted(set(chosen[0].get_chemical_symbols())):
                q = np.concatenate([a.arrays["charges"][a.symbols == symbol] for a in chosen])
                ax_q.hist(q, bins=60, histtype="step", label=f"{symbol}, {name[kind]}")
        else:
            ax_q.scatter([a.get_volume() / len(a) for a in chosen], e, s=4)
    ax_e.set(xlabel="energy per atom (eV/atom)", ylabel="structures")
    ax_e.legend(fontsize=8)
    ax_f.set(xlabel="|force| on an atom (eV/Å)", ylabel="atoms")
    if with_charges:
        ax_q.set(xlabel="atomic charge (e)", ylabel="atoms")
        ax_q.legend(fontsize=7)
    else:
        ax_q.set(xlabel="volume per atom (Å³)", ylabel="energy per atom (eV/atom)")
    fig.suptitle(title)
    return fig


def make(name: str, root: Path | None = None, figure: bool = True, **parameters) -> list[Atoms]:
    """Generate data set ``name`` and write it, its figure, ``generation.json`` and its checksum.

    ``root`` is the data folder (default: the repository's ``data/``). Every file is replaced
    atomically, and only after the whole set has been made: a failed or interrupted run leaves
    the previous set, record and SHA256SUMS as they were.
    """
    if name not in MAKERS:
        raise ValueError(f"unknown data set {name!r}; the course's sets are {sorted(MAKERS)}")
    function, key = MAKERS[name]
    root = Path(root) if root is not None else DATA
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    dropped: list = []
    start = time.perf_counter()
    structures = function(**parameters, **({"dropped": dropped} if name.endswith("_xtb") else {}))
    seconds = time.perf_counter() - start
    fig = overview_figure(structures, key, title=f"{name}: {len(structures)} structures") if figure else None
    path = datasets.set_path(name, root)
    data.write(path, structures)
    if fig is not None:
        with data.atomic_path(folder / "overview.png") as tmp:
            fig.savefig(tmp, dpi=80, format="png")
    groups: dict[str, int] = {}
    for atoms in structures:
        groups[str(atoms.info.get("group"))] = groups.get(str(atoms.info.get("group")), 0) + 1
    record = {
        "command": f"{datasets.MAKE} {name}"
                   + "".join(f" --{k.replace('_', '-')} {parameters[k]}" for k in ("n_frames", "n_static", "seed")
                             if k in parameters),
        "parameters": parameters,
        "structures": len(structures),
        "atoms": int(sum(len(a) for a in structures)),
        "groups": groups,
        "dropped_not_converged": len(dropped) if name.endswith("_xtb") else None,
        "seconds": round(seconds, 1),
        "versions": _versions(),
        "file": path.name,
        "sha256": datasets.sha256(path),
    }
    _write_text(folder / "generation.json", json.dumps(record, indent=2) + "\n")
    sums = datasets.read_checksums(root) if (root / "SHA256SUMS").exists() else {}
    sums[f"{name}/{path.name}"] = record["sha256"]
    _write_text(root / "SHA256SUMS", "".join(f"{d}  {n}\n" for n, d in sorted(sums.items())))
    return structures


def _write_text(path: Path, text: str) -> None:
    with data.atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _versions() -> dict[str, str]:
    import importlib.metadata

    import minnp

    versions = {"python": platform.python_version(), "minnp": minnp.__version__, "ase": ase.__version__,
                "numpy": np.__version__}
    for package in ("torch", "tblite"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.make_datasets", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the course's data sets and whether they are present")
    verifier = commands.add_parser("verify", help="check the stored files against data/SHA256SUMS")
    maker = commands.add_parser("make", help="generate a data set into data/NAME/")
    maker.add_argument("name", choices=sorted(MAKERS))
    maker.add_argument("--n-frames", type=int, help="frames per MD trajectory")
    maker.add_argument("--n-static", type=int, help="strained cells per phase (si_tersoff)")
    maker.add_argument("--seed", type=int)
    for command in (maker, verifier):
        command.add_argument("--out", type=Path, default=DATA, help="the data folder (default: the repository's data/)")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, description in datasets.SETS.items():
            there = datasets.set_path(name, DATA).exists()
            print(f"{name:18s} {'present' if there else 'missing'}  {description}")
    elif args.command == "verify":
        try:
            bad = datasets.verify(args.out)
        except (FileNotFoundError, ValueError) as error:
            parser.exit(1, f"{error}\n")
        print(f"all stored files match {args.out / 'SHA256SUMS'}" if not bad else f"checksum mismatch: {bad}")
        sys.exit(1 if bad else 0)
    else:
        parameters = {k: v for k, v in (("n_frames", args.n_frames), ("n_static", args.n_static),
                                        ("seed", args.seed)) if v is not None}
        structures = make(args.name, root=args.out, **parameters)
        print(f"{args.name}: {len(structures)} structures written to {datasets.set_path(args.name, args.out)}")


if __name__ == "__main__":
    main()
