"""minnp.datasets and tools.make_datasets: the stored sets are intact (checksums, checked on every
load; cards, records), follow the label contract, and are reproduced by their own generators: a few
structures of every set are made again and relabelled (Tersoff to 1e-8, GFN2-xTB to its SCF
convergence). A changed file, a missing SHA256SUMS or a failed make never passes silently."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from minnp import data, datasets
from tools import make_datasets

XTB_SETS = ["carbon_chain_xtb", "ag3_xtb", "nacl_xtb"]
# GFN2-xTB labels are converged with accuracy 0.01 (tblite's thresholds x 0.01). Against a
# 100x tighter SCF the stored labels differ by < 1e-12 eV (energy), 1.1e-6 eV/Å (forces) and
# 3.2e-7 e (charges); a relabelling on another machine may land anywhere within that.
XTB_TOL = {"energy": 1e-6, "forces": 1e-5, "charges": 1e-5}
TERSOFF_TOL = 1e-8  # the stored per-atom columns carry 8 decimals


class _Loaded(dict):
    """Each stored set read once per test module, when a test first asks for it."""

    def __missing__(self, name):
        self[name] = datasets.load(name)
        return self[name]


@pytest.fixture(scope="module")
def stored() -> dict[str, list]:
    return _Loaded()


def first_of_each_group(structures, per_group=1):
    seen, chosen = Counter(), []
    for atoms in structures:
        key = (atoms.info["group"], atoms.info.get("charge"))
        if seen[key] < per_group:
            chosen.append(atoms)
            seen[key] += 1
    return chosen


def test_stored_files_match_their_checksums():
    sums = datasets.read_checksums()
    assert set(sums) == {f"{name}/{name}.extxyz.gz" for name in datasets.SETS}
    assert datasets.verify() == []


def test_data_folder_stays_under_30_MB():
    total = sum(p.stat().st_size for p in datasets.data_dir().rglob("*") if p.is_file())
    assert total < 30e6, f"data/ holds {total / 1e6:.1f} MB"


@pytest.mark.parametrize("name", list(make_datasets.MAKERS))
def test_every_set_has_a_card_and_a_generation_record(stored, name):
    folder = datasets.data_dir() / name
    card = (folder / "README.md").read_text()
    for needed in ("CC BY 4.0", f"python -m tools.make_datasets make {name}", "units", "eV/Å", "How it was generated"):
        assert needed in card, f"data/{name}/README.md lacks {needed!r}"
    assert (folder / "overview.png").exists()
    record = json.loads((folder / "generation.json").read_text())
    structures = stored[name]
    assert record["structures"] == len(structures) and f"{len(structures)} structures" in card
    assert record["atoms"] == sum(len(a) for a in structures)
    assert record["groups"] == dict(Counter(a.info["group"] for a in structures))
    assert record["sha256"] == datasets.read_checksums()[f"{name}/{name}.extxyz.gz"]


@pytest.mark.parametrize("name", list(make_datasets.MAKERS))
def test_stored_structures_follow_the_label_contract(stored, name):
    for atoms in stored[name]:
        assert isinstance(atoms.info["group"], str)
        assert np.isfinite(atoms.get_potential_energy())
        assert atoms.get_forces().shape == (len(atoms), 3)
        if name == "si_tersoff":
            assert atoms.pbc.all() and atoms.get_stress().shape == (6,)
            assert atoms.info["phase"] in {"diamond", "beta-Sn", "sc", "bcc", "fcc", "vacancy", "surface", "liquid"}
        else:
            assert not atoms.pbc.any()
            assert atoms.arrays["charges"].shape == (len(atoms),)
            assert atoms.info["charge"] in (-1.0, 0.0, 1.0)
            assert atoms.info["temperature"] in (300.0, 600.0, 900.0, 1200.0)


@pytest.mark.parametrize("name", XTB_SETS)
def test_xtb_labels_conserve_charge_and_momentum(stored, name):
    for atoms in stored[name]:
        # Σq = Q (each charge is rounded to 1e-8 in the file), and ΣF = 0 for an isolated cluster
        assert abs(atoms.arrays["charges"].sum() - atoms.info["charge"]) < len(atoms) * 6e-9
        np.testing.assert_allclose(atoms.get_forces().sum(axis=0), 0.0, atol=1e-6)


def test_ag3_geometries_come_with_both_charges(stored):
    by_geometry: dict[bytes, list] = {}
    for atoms in stored["ag3_xtb"]:
        by_geometry.setdefault(atoms.positions.tobytes(), []).append(atoms)
    assert all(sorted(a.info["charge"] for a in pair) == [-1.0, 1.0] for pair in by_geometry.values())
    # same geometry, different total charge: a charge-blind model cannot fit both
    gaps = [abs(p[0].get_potential_energy() - p[1].get_potential_energy()) for p in by_geometry.values()]
    assert min(gaps) > 10.0


def mean_charge_of_far_end(structures, formula):
    """Mean charge of the H at the unprotonated end (the last atom) of the carbon chain."""
    return np.mean([a.arrays["charges"][-1] for a in structures if a.get_chemical_formula() == formula])


def test_protonating_one_end_changes_the_charge_at_the_far_end(stored):
    # the non-local charge transfer the set exists for (Ko et al. 2021, Fig. 2)
    change = mean_charge_of_far_end(stored["carbon_chain_xtb"], "C10H3") - mean_charge_of_far_end(
        stored["carbon_chain_xtb"], "C10H2")
    assert change > 0.05


@pytest.mark.parametrize("name", XTB_SETS)
def test_stored_xtb_labels_are_reproduced_by_gfn2_xtb(stored, name):
    for atoms in first_of_each_group(stored[name]):
        again = make_datasets.xtb_label(atoms.copy(), atoms.info["charge"])
        assert again is not None, "the stored structure's SCF no longer converges"
        assert again.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=XTB_TOL["energy"])
        np.testing.assert_allclose(again.get_forces(), atoms.get_forces(), atol=XTB_TOL["forces"])
        np.testing.assert_allclose(again.arrays["charges"], atoms.arrays["charges"], atol=XTB_TOL["charges"])


def test_stored_si_labels_match_tersoff_to_1e8(stored):
    teacher = datasets.si_teacher()
    for atoms in first_of_each_group(stored["si_tersoff"]):
        again = atoms.copy()
        again.calc = teacher
        assert again.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=TERSOFF_TOL)
        np.testing.assert_allclose(again.get_forces(), atoms.get_forces(), atol=TERSOFF_TOL)
        np.testing.assert_allclose(again.get_stress(), atoms.get_stress(), atol=TERSOFF_TOL)


REGENERATE = {
    "si_tersoff": (make_datasets.make_si_tersoff, dict(n_frames=2, n_static=3,
                                                  groups=["diamond strained", "beta-Sn", "sc", "diamond 300 K"])),
    "ag3_xtb": (make_datasets.make_ag3_xtb, dict(n_frames=2, groups=["Ag3+ 300 K", "Ag3- 1200 K"])),
    "carbon_chain_xtb": (make_datasets.make_carbon_chain_xtb, dict(n_frames=1, groups=["C10H3+ 300 K"])),
    "nacl_xtb": (make_datasets.make_nacl_xtb, dict(n_frames=1, groups=["Na9Cl8+ 300 K"])),
}


@pytest.mark.parametrize("name", list(REGENERATE))
def test_regenerating_a_few_structures_reproduces_the_stored_set(stored, name):
    make, parameters = REGENERATE[name]
    made = make(progress=False, **parameters)
    assert {a.info["group"] for a in made} == set(parameters["groups"])
    for group in parameters["groups"]:
        new = [a for a in made if a.info["group"] == group]
        old = [a for a in stored[name] if a.info["group"] == group][: len(new)]
        for a, b in zip(new, old):
            assert a.info == b.info
            # MD frames may drift by rounding across machines; on one machine they are identical
            np.testing.assert_allclose(a.positions, b.positions, atol=1e-6)
            tol = TERSOFF_TOL if name == "si_tersoff" else XTB_TOL["energy"]
            assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=tol)
            np.testing.assert_allclose(a.get_forces(), b.get_forces(),
                                       atol=TERSOFF_TOL if name == "si_tersoff" else XTB_TOL["forces"])


def test_make_writes_the_set_its_record_and_its_checksum(tmp_path):
    made = make_datasets.make("ag3_xtb", root=tmp_path, n_frames=1, groups=["Ag3+ 300 K"], progress=False)
    back = data.read(datasets.set_path("ag3_xtb", tmp_path))
    assert len(back) == len(made) == 2
    np.testing.assert_allclose(back[1].arrays["charges"], made[1].arrays["charges"], atol=5e-9)
    assert datasets.verify(tmp_path) == []
    record = json.loads((tmp_path / "ag3_xtb" / "generation.json").read_text())
    assert record["structures"] == 2 and record["dropped_not_converged"] == 0
    assert (tmp_path / "ag3_xtb" / "overview.png").stat().st_size > 10_000
    (tmp_path / "ag3_xtb" / "ag3_xtb.extxyz.gz").write_bytes(b"corrupted")
    assert datasets.verify(tmp_path) == ["ag3_xtb/ag3_xtb.extxyz.gz"]


def test_data_dir_follows_minnp_data_and_explains_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MINNP_DATA", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="python -m tools.make_datasets make si_tersoff"):
        datasets.load("si_tersoff")
    monkeypatch.setenv("MINNP_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="MINNP_DATA"):
        datasets.data_dir()
    monkeypatch.delenv("MINNP_DATA")
    assert datasets.data_dir() == Path(datasets.__file__).resolve().parents[1] / "data"
    with pytest.raises(ValueError, match="unknown data set 'si'; the course's sets are"):
        datasets.load("si")


def test_command_line_lists_and_verifies(capsys):
    make_datasets.main(["list"])
    out = capsys.readouterr().out
    assert all(f"{name}" in out for name in datasets.SETS) and "missing" not in out
    with pytest.raises(SystemExit) as exit_:
        make_datasets.main(["verify"])
    assert exit_.value.code == 0


# ---------------------------------------------------------------------------------------------
# a changed file, a missing SHA256SUMS, a failed make: refused or harmless, never silent
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def ag3_copy(tmp_path, monkeypatch):
    """The stored ag3_xtb set and its SHA256SUMS line in a data folder of its own (MINNP_DATA)."""
    (tmp_path / "ag3_xtb").mkdir()
    stored = datasets.set_path("ag3_xtb")
    (tmp_path / "ag3_xtb" / stored.name).write_bytes(stored.read_bytes())
    digest = datasets.read_checksums()["ag3_xtb/ag3_xtb.extxyz.gz"]
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  ag3_xtb/ag3_xtb.extxyz.gz\n")
    monkeypatch.setenv("MINNP_DATA", str(tmp_path))
    return tmp_path


def test_load_refuses_a_file_changed_since_it_was_made(ag3_copy):
    import gzip

    path = datasets.set_path("ag3_xtb")
    original = path.read_bytes()
    assert len(datasets.load("ag3_xtb")) == 1976
    text = gzip.decompress(original).decode()
    energy = text.split("energy=", 1)[1].split()[0]
    edited = text.replace(f"energy={energy}", f"energy={float(energy) + 1.0!r}", 1)  # +1 eV on one label
    path.write_bytes(gzip.compress(edited.encode(), mtime=0))
    with pytest.raises(ValueError, match="does not match its checksum in .*SHA256SUMS: its SHA-256 differs .*"
                                         "git checkout data/ag3_xtb.*python -m tools.make_datasets make ag3_xtb"):
        datasets.load("ag3_xtb")
    assert datasets.verify() == ["ag3_xtb/ag3_xtb.extxyz.gz"]
    path.write_bytes(original)  # restored: the cached hash of the edited version is not reused
    assert len(datasets.load("ag3_xtb")) == 1976


def test_a_missing_sha256sums_fails_load_and_verify_with_the_fix(ag3_copy, capsys):
    (ag3_copy / "SHA256SUMS").unlink()
    with pytest.raises(FileNotFoundError, match="SHA256SUMS is missing, so no data file can be checked: restore it"):
        datasets.load("ag3_xtb")
    with pytest.raises(FileNotFoundError, match="SHA256SUMS is missing"):
        datasets.verify()
    with pytest.raises(SystemExit) as exit_:
        make_datasets.main(["verify", "--out", str(ag3_copy)])
    assert exit_.value.code == 1 and "SHA256SUMS is missing" in capsys.readouterr().err


def test_a_set_without_a_checksum_line_is_refused(ag3_copy):
    (ag3_copy / "SHA256SUMS").write_text("")
    with pytest.raises(ValueError, match="it has no line in SHA256SUMS"):
        datasets.load("ag3_xtb")
    assert datasets.verify() == ["ag3_xtb/ag3_xtb.extxyz.gz"]


def test_a_folder_where_the_set_file_belongs_is_named_as_a_folder(tmp_path, monkeypatch):
    (tmp_path / "ag3_xtb" / "ag3_xtb.extxyz.gz").mkdir(parents=True)
    monkeypatch.setenv("MINNP_DATA", str(tmp_path))
    with pytest.raises(IsADirectoryError, match="is a folder, but data set 'ag3_xtb' is one file"):
        datasets.load("ag3_xtb")
    monkeypatch.setenv("MINNP_DATA", str(tmp_path / "ag3_xtb" / "SHA256SUMS.txt"))
    (tmp_path / "ag3_xtb" / "SHA256SUMS.txt").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder: point MINNP_DATA"):
        datasets.data_dir()


def test_a_failed_make_leaves_the_previous_set_record_and_checksums(tmp_path, monkeypatch):
    from ase.build import molecule

    structures = [data.label(molecule("H2O"), energy=-14.0 - k, forces=np.zeros((3, 3)), charges=[0.1, -0.05, -0.05],
                             charge=0.0) for k in range(2)]
    for atoms in structures:
        atoms.info.update(group="H2O 300 K", temperature=300.0)
    monkeypatch.setitem(make_datasets.MAKERS, "ag3_xtb", (lambda **kw: structures, "charge"))
    make_datasets.make("ag3_xtb", root=tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert datasets.verify(tmp_path) == [] and len(before) == 4  # set, figure, record, SHA256SUMS

    def broken_figure(*args, **kwargs):
        raise RuntimeError("the figure failed")

    structures[0].calc.results["energy"] = -20.0  # a new set is made ...
    monkeypatch.setattr(make_datasets, "overview_figure", broken_figure)
    with pytest.raises(RuntimeError, match="the figure failed"):  # ... but the run fails before writing
        make_datasets.make("ag3_xtb", root=tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
