"""data/mlearn_si and tools/convert_mlearn.py: the mlearn Si PBE set (Zuo et al. 2020) as converted.

Counts and groups per split, labels equal to the benchmark's JSON (when its copy is on this
machine; else the stored file against its recorded SHA-256), sum of forces, the stress sign and
unit against energy differences of the Elastic group, the yz/zx order of the MD stress against
Tersoff Si, a byte-for-byte reproducible conversion, and the licence shipped unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import numpy as np
import pytest

from minnp import data
from minnp.datasets import si_teacher
from tools import convert_mlearn

FOLDER = convert_mlearn.REPO / "data" / "mlearn_si"
FILE = FOLDER / "mlearn_si.extxyz.gz"
RECORD = json.loads((FOLDER / "generation.json").read_text(encoding="utf-8"))
# the benchmark's own split (SOURCE.md): groups per split
GROUPS = {"train": {"AIMD-NVT": 90, "Vacancy": 57, "Elastic": 55, "Surface": 12},
          "test": {"AIMD-NVT": 10, "Vacancy": 7, "Elastic": 6, "Surface": 2}}


def _source():
    try:
        return convert_mlearn.find_source()
    except FileNotFoundError:
        return None


SOURCE = _source()
needs_source = pytest.mark.skipif(SOURCE is None, reason="the mlearn JSON source is not on this machine "
                                  f"(looked in {[str(s) for s in convert_mlearn.SOURCES]})")


@pytest.fixture(scope="module")
def stored():
    return data.read(FILE)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_counts_and_groups_per_split_are_the_benchmarks(stored):
    assert len(stored) == 239 == RECORD["structures"]
    for split, groups in GROUPS.items():
        assert dict(Counter(a.info["group"] for a in stored if a.info["split"] == split)) == groups
    assert RECORD["groups_per_split"] == GROUPS
    assert sum(len(a) for a in stored) == RECORD["atoms"]
    # AIMD-NVT: 20 frames at each of five temperatures (18 train, 2 test)
    temperatures = Counter((a.info["temperature"], a.info["split"]) for a in stored if a.info["group"] == "AIMD-NVT")
    assert temperatures == {(t, s): n for t in (300.0, 843.0, 1518.0, 2530.0, 3374.0) for s, n in (("train", 18), ("test", 2))}


def test_stored_file_matches_its_recorded_checksum():
    assert _sha256(FILE) == RECORD["sha256"]


@needs_source
def test_source_is_the_recorded_commits_files():
    for name, digest in RECORD["source"]["files"].items():
        assert _sha256(SOURCE / name.split("/")[-1]) == digest, f"{name} differs from the file that was converted"


@needs_source
def test_labels_equal_the_benchmark_json(stored):
    for split, file in convert_mlearn.SPLITS.items():
        items = json.loads((SOURCE / file).read_text(encoding="utf-8"))
        ours = [a for a in stored if a.info["split"] == split]
        assert [a.info["source_index"] for a in ours] == list(range(len(items)))
        for atoms, item in zip(ours, items):
            assert atoms.info["group"] == item["group"] and atoms.info["description"] == item["description"]
            assert atoms.get_potential_energy() == item["outputs"]["energy"]  # written at full precision
            np.testing.assert_allclose(atoms.get_forces(), item["outputs"]["forces"], rtol=0, atol=1e-12)
            # positions are written with 8 decimals: half of 1e-8, plus the binary representation of ~10 Å
            np.testing.assert_allclose(atoms.positions, [s["xyz"] for s in item["structure"]["sites"]],
                                       rtol=0, atol=5e-9 + 1e-14)
            np.testing.assert_array_equal(atoms.cell.array, item["structure"]["lattice"]["matrix"])
            assert atoms.pbc.all() and set(atoms.get_chemical_symbols()) == {"Si"}


def test_forces_sum_to_zero_within_their_rounding(stored):
    # the source's forces have 8 decimals: each component of the sum is off by at most N * 5e-9
    for atoms in stored:
        assert np.abs(atoms.get_forces().sum(axis=0)).max() <= len(atoms) * 5e-9 + 1e-12


def test_stress_is_stored_only_where_its_order_is_known(stored):
    for atoms in stored:
        group = atoms.info["group"]
        assert atoms.info["stress_verified"] == (group == "Elastic")
        assert ("stress" in atoms.calc.results) == (group != "Surface")


def test_elastic_energy_differences_match_v_sigma_d_epsilon(stored):
    rows = convert_mlearn.strain_energy_ratios(stored)
    assert len(rows) == 60  # 6 modes x 10 steps of 0.02 from -0.1 to 0.1, through the ground state
    ratios = np.array([row["ratio"] for row in rows])
    assert np.all(np.abs(ratios - 1) < 0.015), ratios  # trapezoid error at the largest strains: 1.2 %
    assert abs(np.median(ratios) - 1) < 0.002


def test_elastic_check_catches_a_wrong_sign_or_unit(stored):
    elastic = [a.copy() for a in stored if a.info["group"] == "Elastic"]
    for atoms, original in zip(elastic, (a for a in stored if a.info["group"] == "Elastic")):
        data.label(atoms, energy=original.get_potential_energy(), stress=-10 * original.get_stress())  # GPa as kBar, sign flipped
    ratios = np.array([row["ratio"] for row in convert_mlearn.strain_energy_ratios(elastic)])
    assert np.all(np.abs(ratios + 0.1) < 0.002)


def test_md_shear_stress_follows_tersoff_in_the_stored_order(stored):
    """AIMD-NVT and Vacancy: yz and zx are swapped in the source; the stored order is the one
    whose shear stress correlates with Tersoff Si's (an independent model of the same frames)."""
    for group, correlation in (("AIMD-NVT", 0.675), ("Vacancy", 0.638)):
        frames = [a for a in stored if a.info["group"] == group]
        result = convert_mlearn.shear_correlation(frames, si_teacher())
        assert result["as given"] == pytest.approx(correlation, abs=1e-3)
        assert result["as given"] > result["yz and zx exchanged"] + 0.35
        assert result["exchanged_fits_better"] < 0.25 * len(frames)


@needs_source
def test_conversion_reproduces_the_stored_file_byte_for_byte(tmp_path):
    data.write(tmp_path / FILE.name, convert_mlearn.read_source(SOURCE))
    assert (tmp_path / FILE.name).read_bytes() == FILE.read_bytes()


def test_rewriting_the_stored_structures_reproduces_the_file(stored, tmp_path):
    data.write(tmp_path / FILE.name, stored)
    assert (tmp_path / FILE.name).read_bytes() == FILE.read_bytes()


def test_licence_ships_unchanged():
    licence = FOLDER / "LICENSE"
    assert _sha256(licence) == RECORD["source"]["LICENSE"]
    text = licence.read_text(encoding="utf-8")
    assert "BSD 3-Clause" in text and "Materials Virtual Lab" in text
    if SOURCE is not None:
        assert licence.read_bytes() == (SOURCE / "LICENSE").read_bytes()


def test_card_names_source_licence_citation_and_stress_finding():
    card = (FOLDER / "README.md").read_text(encoding="utf-8")
    for needed in (convert_mlearn.COMMIT, "BSD", "J. Phys. Chem. A 124, 731 (2020)", "python -m tools.convert_mlearn",
                   "stress_verified", "isolated-atom", "239 structures", "eV/Å"):
        assert needed in card, f"data/mlearn_si/README.md lacks {needed!r}"
