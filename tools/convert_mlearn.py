"""Convert the mlearn Si DFT data (Zuo et al. 2020) once into the course's format: ``data/mlearn_si/``.

    python -m tools.convert_mlearn [--source DIR] [--out DIR] [--no-figure]

The source is the mlearn benchmark's ``data/Si/training.json`` and ``test.json``
(github.com/materialsvirtuallab/mlearn, BSD-3; Y. Zuo et al., J. Phys. Chem. A 124, 731 (2020)):
a JSON list of pymatgen ``Structure`` dicts with ``outputs`` = energy (eV, total), forces (eV/Å)
and ``virial_stress`` (six numbers, kBar, VASP's sign). This script writes, in the course's
format (see ``data/mlearn_si/README.md``):

- ``mlearn_si.extxyz.gz``: 239 labelled ``Atoms`` (:mod:`minnp.data` contract), gzip without a
  time stamp, so running the script again reproduces the file byte for byte;
- ``LICENSE``: the source's licence, copied unchanged;
- ``generation.json``: counts, the source files' SHA-256, the stress checks below, versions;
- ``overview.png``: the overview figure of ``tools.make_datasets``.

The checksum line for ``data/SHA256SUMS`` is printed, not written (that file is made by
``tools.make_datasets``).

Stress: VASP's sign and unit turned into ASE's
----------------------------------------------
VASP reports the stress in kBar with the sign of a pressure (positive = compressed). ASE's stress
is the strain derivative of the energy per volume, sigma = (1/V) dE/d(epsilon) in eV/Å³
(positive = stretched, the cell wants to shrink), so

    sigma_ASE = -virial_stress · 0.1 GPa          (1 kBar = 0.1 GPa = 6.2415e-4 eV/Å³)

and the energy change along a small deformation is dE = V sigma : d(epsilon). :func:`strain_energy_ratios`
checks exactly this on the Elastic group: neighbouring strains of one mode, the energy difference
against the trapezoid V sigma : d(epsilon). The order of the six numbers is not the same in every
group (``STRESS_ORDER``; SOURCE.md and the card say how it was found): Elastic is VASP's
(xx yy zz xy yz zx), checked by energy; AIMD-NVT and Vacancy have yz and zx swapped, found
statistically (:func:`shear_correlation` against Tersoff Si, and a GAP fit); for Surface the order
stays undecided and no stress is stored. ``info["stress_verified"]`` says which is which.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms, units

from minnp import data

NAME = "mlearn_si"
REPOSITORY = "https://github.com/materialsvirtuallab/mlearn"
COMMIT = "10c427a5480c6281c15c64efaf869b03be04818f"
SPLITS = {"train": "training.json", "test": "test.json"}  # our split name -> the benchmark's file
REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO.parent / "shared" / "data" / NAME, Path("/work/shared/data") / NAME]  # where the source may lie

KBAR = 0.1 * units.GPa  # eV/Å³ per kBar
VASP_ORDER = ("xx", "yy", "zz", "xy", "yz", "zx")
YZ_ZX_SWAPPED = ("xx", "yy", "zz", "xy", "zx", "yz")
# the order of the six virial_stress numbers per group; a group not named here gets no stress
STRESS_ORDER = {"Elastic": VASP_ORDER, "AIMD-NVT": YZ_ZX_SWAPPED, "Vacancy": YZ_ZX_SWAPPED}
STRESS_VERIFIED = {"Elastic"}  # checked against energy differences (strain_energy_ratios)
_INDEX = {"xx": (0, 0), "yy": (1, 1), "zz": (2, 2), "xy": (0, 1), "yz": (1, 2), "zx": (0, 2)}


def find_source() -> Path:
    """The folder with the benchmark's ``training.json`` and ``test.json``."""
    for folder in SOURCES:
        if all((folder / file).is_file() for file in SPLITS.values()):
            return folder
    raise FileNotFoundError(f"no mlearn Si source in {[str(s) for s in SOURCES]}: pass --source DIR, a folder "
                            f"holding data/Si/training.json and test.json of {REPOSITORY} at commit {COMMIT}")


def ase_stress(virial_kbar: Sequence[float], order: Sequence[str]) -> np.ndarray:
    """Six VASP-style numbers (kBar, pressure sign) in ``order`` -> ASE's stress, (3, 3) in eV/Å³."""
    sigma = np.zeros((3, 3))
    for value, name in zip(virial_kbar, order, strict=True):
        i, j = _INDEX[name]
        sigma[i, j] = sigma[j, i] = -value * KBAR
    return sigma


def to_atoms(item: dict, split: str, index: int) -> Atoms:
    """One benchmark entry (pymatgen Structure dict + outputs) as labelled ``Atoms``."""
    structure, outputs = item["structure"], item["outputs"]
    symbols = [site["species"][0]["element"] for site in structure["sites"]]
    atoms = Atoms(symbols, positions=[site["xyz"] for site in structure["sites"]],  # Cartesian, Å
                  cell=structure["lattice"]["matrix"], pbc=True)                      # rows a, b, c, Å
    order = STRESS_ORDER.get(item["group"])
    data.label(atoms, energy=outputs["energy"], forces=outputs["forces"],
               stress=None if order is None else ase_stress(outputs["virial_stress"], order))
    atoms.info.update(group=item["group"], split=split, source_index=index,
                      description=item["description"], stress_verified=item["group"] in STRESS_VERIFIED)
    if item["group"] == "AIMD-NVT":  # the temperature of the description matches the structures here only
        atoms.info["temperature"] = float(re.search(r"at (\d+) K", item["description"]).group(1))
    return atoms


def read_source(source: Path) -> list[Atoms]:
    """All 239 structures, the training file first, each in the benchmark's own order."""
    structures = []
    for split, file in SPLITS.items():
        items = json.loads((Path(source) / file).read_text(encoding="utf-8"))
        structures += [to_atoms(item, split, index) for index, item in enumerate(items)]
    return structures


# ----------------------------------------------------------------------------------------------
# checks of the stress convention


def strain_energy_ratios(structures: Sequence[Atoms]) -> list[dict]:
    """For neighbouring strains of each Elastic mode: (E2 - E1) / (V sigma : d(epsilon)), ideally 1.

    d(epsilon) = sym(C_mid^-1 (C2 - C1)) for cells C (rows a, b, c) and C_mid = (C1 + C2) / 2;
    V sigma is averaged over the two ends (trapezoid rule). The zero strain is the ground state.
    """
    modes: dict[int, list[tuple[float, Atoms]]] = {}
    ground = [a for a in structures if a.info["description"] == "Ground state crystal"]
    for atoms in structures:
        found = re.search(r"mode (\d+), strain (\S+)", atoms.info["description"])
        if atoms.info["group"] == "Elastic" and found:
            modes.setdefault(int(found.group(1)), []).append((float(found.group(2)), atoms))
    rows = []
    for mode, strained in sorted(modes.items()):
        path = sorted(strained + [(0.0, atoms) for atoms in ground], key=lambda pair: pair[0])
        for (strain1, a1), (strain2, a2) in zip(path[:-1], path[1:]):
            c1, c2 = a1.cell.array, a2.cell.array
            gradient = np.linalg.solve((c1 + c2) / 2, c2 - c1)  # (3, 3): C2 - C1 = C_mid @ gradient
            d_epsilon = (gradient + gradient.T) / 2
            v_sigma = (a1.get_volume() * a1.get_stress(voigt=False) + a2.get_volume() * a2.get_stress(voigt=False)) / 2
            work = float(np.sum(v_sigma * d_epsilon))  # eV
            d_energy = a2.get_potential_energy() - a1.get_potential_energy()
            rows.append({"mode": mode, "strains": [strain1, strain2], "dE": d_energy, "V_sigma_deps": work,
                         "ratio": d_energy / work})
    return rows


def shear_correlation(structures: Sequence[Atoms], calculator) -> dict:
    """How well the stored shear stress follows ``calculator``'s (e.g. Tersoff Si): read as given,
    and with the yz and zx entries exchanged.

    A model that is not fitted to the data still feels the thermal shear of an MD frame: the
    right reading correlates with it, a wrong one hardly does. Returns both correlations and how
    many structures the exchanged reading fits better.
    """
    model, dft = [], []
    for atoms in structures:
        dft.append(atoms.get_stress(voigt=False))
        copy = atoms.copy()
        copy.calc = calculator
        model.append(copy.get_stress(voigt=False))
    model, dft = np.array(model), np.array(dft)  # (n, 3, 3) each
    exchanged = dft.copy()
    exchanged[:, [1, 2], [2, 1]], exchanged[:, [0, 2], [2, 0]] = dft[:, [0, 2], [2, 0]], dft[:, [1, 2], [2, 1]]
    shear = ([0, 1, 0], [1, 2, 2])  # xy, yz, zx

    def correlation(sigma):
        return round(float(np.corrcoef(sigma[:, shear[0], shear[1]].ravel(),
                                       model[:, shear[0], shear[1]].ravel())[0, 1]), 3)

    def error(sigma):  # (n,) distance of (yz, zx) from the model's
        return np.hypot(sigma[:, 1, 2] - model[:, 1, 2], sigma[:, 0, 2] - model[:, 0, 2])

    return {"as given": correlation(dft), "yz and zx exchanged": correlation(exchanged),
            "structures": len(structures), "exchanged_fits_better": int(np.sum(error(exchanged) < error(dft)))}


def checks(source: Path, structures: Sequence[Atoms]) -> dict:
    """The numbers the card quotes: the Elastic energy check, and per group the Tersoff shear
    check of the source's numbers read in VASP's order (xx yy zz xy yz zx)."""
    from minnp.datasets import si_teacher

    ratios = np.array([row["ratio"] for row in strain_energy_ratios(structures)])
    raw = [item["outputs"]["virial_stress"] for file in SPLITS.values()
           for item in json.loads((Path(source) / file).read_text(encoding="utf-8"))]
    by_group = {}
    for group in ("AIMD-NVT", "Vacancy", "Surface"):
        in_vasp_order = [data.label(atoms.copy(), stress=ase_stress(virial, VASP_ORDER))
                         for atoms, virial in zip(structures, raw) if atoms.info["group"] == group]
        by_group[group] = shear_correlation(in_vasp_order, si_teacher())
    vacancy = Counter((re.search(r"at (\d+ K)", a.info["description"]).group(1),
                       "crystalline" if a.get_potential_energy() / len(a) < -5.1 else "disordered")
                      for a in structures if a.info["group"] == "Vacancy")
    return {
        "elastic_dE_over_V_sigma_deps": {"pairs": len(ratios), "median": round(float(np.median(ratios)), 4),
                                         "min": round(float(ratios.min()), 4), "max": round(float(ratios.max()), 4)},
        "shear_correlation_with_tersoff_si_read_in_vasp_order": by_group,
        "vacancy_frames_by_described_temperature": {f"{t}, {state}": n for (t, state), n in sorted(vacancy.items())},
    }


# ----------------------------------------------------------------------------------------------
# writing data/mlearn_si/


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def convert(source: Path, out: Path, figure: bool = True) -> list[Atoms]:
    """Write ``out/mlearn_si.extxyz.gz``, ``LICENSE``, ``generation.json`` (and ``overview.png``)."""
    from tools.make_datasets import _versions, overview_figure

    source, out = Path(source), Path(out)
    structures = read_source(source)
    record_checks = checks(source, structures)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.extxyz.gz"
    data.write(path, structures)
    with data.atomic_path(out / "LICENSE") as tmp:
        shutil.copyfile(source / "LICENSE", tmp)
    if figure:
        fig = overview_figure(structures, "group", title=f"{NAME}: {len(structures)} structures (PBE, mlearn)")
        with data.atomic_path(out / "overview.png") as tmp:
            fig.savefig(tmp, dpi=80, format="png")
    record = {
        "command": "python -m tools.convert_mlearn",
        "source": {"repository": REPOSITORY, "commit": COMMIT,
                   "files": {f"data/Si/{file}": _sha256(source / file) for file in SPLITS.values()},
                   "LICENSE": _sha256(source / "LICENSE")},
        "structures": len(structures),
        "atoms": int(sum(len(a) for a in structures)),
        "groups": dict(Counter(a.info["group"] for a in structures)),
        "groups_per_split": {split: dict(Counter(a.info["group"] for a in structures if a.info["split"] == split))
                             for split in SPLITS},
        "stress_order": {group: " ".join(order) for group, order in STRESS_ORDER.items()},
        "checks": record_checks,
        "versions": _versions(),
        "file": path.name,
        "sha256": _sha256(path),
    }
    with data.atomic_path(out / "generation.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return structures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.convert_mlearn", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder with training.json, test.json and LICENSE")
    parser.add_argument("--out", type=Path, default=REPO / "data" / NAME, help="output folder (default data/mlearn_si)")
    parser.add_argument("--no-figure", action="store_true", help="do not draw overview.png")
    args = parser.parse_args(argv)
    structures = convert(args.source or find_source(), args.out, figure=not args.no_figure)
    digest = _sha256(args.out / f"{NAME}.extxyz.gz")
    print(f"{NAME}: {len(structures)} structures written to {args.out}\n"
          f"line for data/SHA256SUMS:\n{digest}  {NAME}/{NAME}.extxyz.gz")


if __name__ == "__main__":
    main()
