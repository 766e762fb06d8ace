"""minnp.data: extxyz and RuNNer/n2p2 input.data round trips, unit conversion at the border,
line-numbered errors for malformed files, the lecture's descriptor arrays, seeded splits."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import Bohr, Hartree

from minnp import atoms_to_batch, data


def labelled_structures() -> list[Atoms]:
    """A triclinic periodic cell with every label, a charged cluster, and an unlabelled-stress cluster."""
    rng = np.random.default_rng(7)
    crystal = bulk("NaCl", "rocksalt", a=5.64) * (2, 1, 1)
    crystal.cell = crystal.cell.array + rng.normal(scale=0.1, size=(3, 3))  # triclinic
    crystal.rattle(0.05, seed=3)
    data.label(crystal, energy=-27.123456789012345, forces=rng.normal(size=(4, 3)),
               stress=rng.normal(size=6) * 1e-2, charges=rng.normal(size=4), charge=0.0)
    crystal.info["group"] = "rocksalt 600 K"
    crystal.info["temperature"] = 600.0
    cluster = molecule("CH3CH2OH")
    data.label(cluster, energy=-41.5, forces=rng.normal(size=(9, 3)), charges=rng.normal(size=9), charge=1.0)
    cluster.info["group"] = "cation"
    cluster.info["comment"] = "ethanol, protonated in spirit"
    anion = molecule("OH")
    data.label(anion, energy=-11.25, forces=rng.normal(size=(2, 3)), charges=[-1.2, 0.2], charge=-1.0)
    return [crystal, cluster, anion]


def assert_same_structure(a: Atoms, b: Atoms, atol_columns: float, info_keys=("charge", "group", "temperature")):
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    assert (a.pbc == b.pbc).all()
    np.testing.assert_allclose(b.cell.array, a.cell.array, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(b.positions, a.positions, rtol=1e-14, atol=atol_columns)
    assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), rel=1e-15, abs=1e-12)
    np.testing.assert_allclose(b.get_forces(), a.get_forces(), rtol=1e-14, atol=atol_columns)
    np.testing.assert_allclose(b.arrays["charges"], a.arrays["charges"], rtol=1e-14, atol=atol_columns)
    for key in info_keys:
        assert b.info.get(key) == a.info.get(key), key


def round_trip(path, structures=None) -> tuple[list[Atoms], list[Atoms]]:
    """The structures written to ``path`` and read back (as many)."""
    structures = labelled_structures() if structures is None else structures
    data.write(path, structures)
    back = data.read(path)
    assert len(back) == len(structures)
    return structures, back


@pytest.mark.parametrize("name", ["set.extxyz", "set.xyz", "set.xyz.gz"])
def test_extxyz_round_trip_preserves_every_label(tmp_path, name):
    structures, back = round_trip(tmp_path / name)
    for a, b in zip(structures, back):
        # ASE writes per-atom columns with 8 decimals and info values at full precision
        assert_same_structure(a, b, atol_columns=5.1e-9)
        assert "charges" not in b.calc.results, "atomic charges belong in atoms.arrays, not on the calculator"
    np.testing.assert_allclose(back[0].get_stress(), structures[0].get_stress(), rtol=1e-15)
    assert back[1].info["comment"] == structures[1].info["comment"]


@pytest.mark.parametrize("name", ["input.data", "train.data.gz"])
def test_input_data_round_trip_preserves_every_field(tmp_path, name):
    structures, back = round_trip(tmp_path / name)
    for a, b in zip(structures, back):
        # Å -> Bohr -> Å with 17 significant digits: equal to a few ulp
        assert_same_structure(a, b, atol_columns=1e-13, info_keys=("charge", "comment"))


def test_input_data_converts_bohr_and_hartree_at_the_border(tmp_path):
    text = """begin
comment two atoms in atomic units
lattice 10.0 0.0 0.0
lattice 0.0 10.0 0.0
lattice 0.0 0.0 10.0
atom 0.0 0.0 0.0 Na 0.8 0.0 0.5 0.0 0.0
atom 1.0 2.0 3.0 Cl -0.3 0.0 -0.5 0.0 0.25
energy -2.0
charge 0.5
end
"""
    (tmp_path / "input.data").write_text(text)
    (atoms,) = data.read(tmp_path / "input.data")
    assert Bohr == pytest.approx(0.529177, abs=1e-6) and Hartree == pytest.approx(27.2114, abs=1e-4)
    np.testing.assert_allclose(atoms.cell.array, 10.0 * Bohr * np.eye(3), rtol=1e-15)
    np.testing.assert_allclose(atoms.positions[1], [Bohr, 2 * Bohr, 3 * Bohr], rtol=1e-15)
    assert atoms.get_potential_energy() == pytest.approx(-2.0 * Hartree, rel=1e-15)
    np.testing.assert_allclose(atoms.get_forces()[1], [-0.5 * Hartree / Bohr, 0.0, 0.25 * Hartree / Bohr])
    np.testing.assert_allclose(atoms.arrays["charges"], [0.8, -0.3])  # charges are in e already
    assert atoms.info["charge"] == 0.5 and atoms.pbc.all()
    assert atoms.info["comment"] == "two atoms in atomic units"
    # and the total charge reaches minnp's Batch, which reads atoms.info["charge"]
    assert atoms_to_batch([atoms]).total_charge.tolist() == [0.5]


GOOD_BLOCK = ["begin", "atom 0 0 0 H 0.1 0 0 0 0", "atom 1.4 0 0 H -0.1 0 0 0 0", "energy -1.1", "charge 0", "end"]


@pytest.mark.parametrize(
    "lines, line_number, words",
    [
        (GOOD_BLOCK[:2] + ["atom 1.4 0 0 H -0.1 0 0 0"] + GOOD_BLOCK[3:], 3, "9 fields"),
        (GOOD_BLOCK[:2] + ["atom 1.4 0 0 Hx -0.1 0 0 0 0"] + GOOD_BLOCK[3:], 3, "unknown element 'Hx'"),
        (GOOD_BLOCK[:3] + ["energy -1.1.2"] + GOOD_BLOCK[4:], 4, "not a number"),
        (GOOD_BLOCK[:1] + ["lattice 1 0"] + GOOD_BLOCK[1:], 2, "3 numbers"),
        (GOOD_BLOCK[:3] + ["enrgy -1.1"] + GOOD_BLOCK[4:], 4, "unknown keyword 'enrgy'"),
        (GOOD_BLOCK[:5] + GOOD_BLOCK, 6, "'begin' inside the structure begun on line 7"),
        (GOOD_BLOCK + ["atom 0 0 0 H 0 0 0 0 0"], 7, "outside a structure"),
        (GOOD_BLOCK[:1] + ["lattice 9 0 0", "lattice 0 9 0"] + GOOD_BLOCK[1:], 8, "2 'lattice' lines"),
    ],
)
def test_malformed_input_data_error_names_the_line(tmp_path, lines, line_number, words):
    path = tmp_path / "input.data"
    path.write_text("\n".join(GOOD_BLOCK + lines) + "\n")
    offset = len(GOOD_BLOCK)  # one good structure comes first
    with pytest.raises(ValueError) as error:
        data.read(path)
    assert f"line {line_number + offset}" in str(error.value)
    assert words in str(error.value)
    assert str(path) in str(error.value)


def test_input_data_without_end_names_the_open_structure(tmp_path):
    path = tmp_path / "input.data"
    path.write_text("\n".join(GOOD_BLOCK + GOOD_BLOCK[:-1]) + "\n")
    with pytest.raises(ValueError, match="begun on line 7 has no 'end'"):
        data.read(path)


def test_input_data_refuses_what_it_cannot_hold(tmp_path):
    slab = bulk("Si", cubic=True)
    slab.pbc = [True, True, False]
    data.label(slab, energy=-1.0)
    with pytest.raises(ValueError, match="periodic along some directions only"):
        data.write(tmp_path / "input.data", [slab])
    with pytest.raises(ValueError, match="structure 0 has no energy"):
        data.write(tmp_path / "input.data", [bulk("Si")])


def test_format_is_chosen_from_the_file_name(tmp_path):
    structures = labelled_structures()[1:]
    data.write(tmp_path / "x.data", structures)
    assert (tmp_path / "x.data").read_text().startswith("begin")
    data.write(tmp_path / "x.txt", structures, format="extxyz")
    assert len(data.read(tmp_path / "x.txt", format="extxyz")) == 2
    with pytest.raises(ValueError, match="cannot tell the format"):
        data.write(tmp_path / "x.txt", structures)
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.read(tmp_path / "missing.xyz")


def test_gzip_files_are_byte_for_byte_reproducible(tmp_path):
    structures = labelled_structures()
    data.write(tmp_path / "a.xyz.gz", structures)
    data.write(tmp_path / "b.xyz.gz", structures)
    assert (tmp_path / "a.xyz.gz").read_bytes() == (tmp_path / "b.xyz.gz").read_bytes()


def test_label_puts_each_quantity_where_the_contract_says():
    atoms = bulk("Si", cubic=True)
    sigma = np.arange(9.0).reshape(3, 3)
    sigma = sigma + sigma.T
    data.label(atoms, energy=-1.5, forces=np.ones((8, 3)), stress=sigma, charges=np.zeros(8), charge=2)
    assert atoms.get_potential_energy() == -1.5
    np.testing.assert_array_equal(atoms.get_stress(), full_3x3_to_voigt_6_stress(sigma))
    assert atoms.info["charge"] == 2.0 and atoms.arrays["charges"].shape == (8,)
    with pytest.raises(ValueError, match=r"forces have shape \(3, 3\), expected \(8, 3\)"):
        data.label(atoms, forces=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="charges have shape"):
        data.label(atoms, charges=np.zeros(3))


def test_read_descriptors_checks_the_arrays_belong_together(tmp_path):
    desc = np.random.default_rng(0).normal(size=(5, 64, 11)).astype(np.float32)
    np.save(tmp_path / "desc.npy", desc)
    np.save(tmp_path / "label.npy", np.linspace(-5.9, -5.7, 5))
    x, y = data.read_descriptors(tmp_path / "desc.npy", tmp_path / "label.npy")
    assert x.shape == (5, 64, 11) and y.shape == (5,)
    np.testing.assert_array_equal(x, desc)
    np.save(tmp_path / "label.npy", np.zeros(4))
    with pytest.raises(ValueError, match="each of the 5 structures"):
        data.read_descriptors(tmp_path / "desc.npy", tmp_path / "label.npy")
    np.save(tmp_path / "desc.npy", desc[0])
    with pytest.raises(ValueError, match=r"\(structures, atoms, features\)"):
        data.read_descriptors(tmp_path / "desc.npy", tmp_path / "label.npy")


def many(n: int) -> list[Atoms]:
    structures = []
    for k in range(n):
        atoms = Atoms("H", positions=[[0, 0, 0.01 * k]])
        atoms.info["group"] = f"trajectory {k % 4}"
        atoms.info["temperature"] = 300.0 * (1 + k % 3)
        structures.append(atoms)
    return structures


def test_random_split_is_a_seeded_partition():
    structures = many(101)
    train, val, test = data.random_split(structures, (0.8, 0.1, 0.1), seed=1)
    assert (len(train), len(val), len(test)) == (81, 10, 10)
    ids = [id(a) for part in (train, val, test) for a in part]
    assert sorted(ids) == sorted(id(a) for a in structures)  # disjoint and complete
    again = data.random_split(structures, (0.8, 0.1, 0.1), seed=1)
    assert [id(a) for a in again[2]] == [id(a) for a in test]
    other = data.random_split(structures, (0.8, 0.1, 0.1), seed=2)
    assert [id(a) for a in other[2]] != [id(a) for a in test]
    with pytest.raises(ValueError, match="sum to 1"):
        data.random_split(structures, (0.8, 0.1))


def test_group_split_holds_out_whole_groups():
    structures = many(60)
    train, val, test = data.group_split(structures, ["trajectory 2"], val_fraction=0.2, seed=0)
    assert {a.info["group"] for a in test} == {"trajectory 2"} and len(test) == 15
    assert all(a.info["group"] != "trajectory 2" for a in train + val)
    assert len(train) + len(val) == 45 and len(val) == 9
    # any info key works, e.g. hold out the hottest temperature
    train, val, test = data.group_split(structures, 900.0, key="temperature")
    assert {a.info["temperature"] for a in test} == {900.0} and len(test) == 20
    with pytest.raises(ValueError, match=r"not found under info\['group'\]; the groups present are"):
        data.group_split(structures, ["trajectory 9"])
    with pytest.raises(ValueError, match="no structure has atoms.info\\['phase'\\]"):
        data.group_split(structures, ["liquid"], key="phase")


# ---------------------------------------------------------------------------------------------
# hostile and damaged input: refused with file, structure and line, and never a lost file
# ---------------------------------------------------------------------------------------------

CLUSTER = """begin
comment {comment}
atom 0.0 0.0 0.0 Na {q} 0.0 {fx} 0.0 0.0
atom 4.0 0.0 0.0 Cl -0.5 0.0 -0.1 0.0 0.0
energy {energy}
charge 0.0
end
"""


def runner_file(tmp_path, name="input.data", comment="Na Cl", q="0.5", fx="0.1", energy="-1.5", extra=""):
    path = tmp_path / name
    path.write_text(CLUSTER.format(comment=comment, q=q, fx=fx, energy=energy).replace("end\n", extra + "end\n"))
    return path


@pytest.mark.parametrize("name", ["x.data", "x.xyz", "x.data.gz"])
def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, name):
    path = tmp_path / name
    data.write(path, labelled_structures())
    before = path.read_bytes()
    with pytest.raises(ValueError, match="structure 1 has no energy; input.data needs one"):
        data.write(path, [labelled_structures()[0], molecule("H2O")], format="runner")
    with pytest.raises(ValueError, match=r"structure 0 has a non-finite energy label \(NaN or inf\).*fix the value"):
        data.write(path, [data.label(molecule("H2O"), energy=float("nan"))])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name], "no temporary file is left behind"


def test_an_interrupted_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    from pathlib import Path

    path = tmp_path / "train.data"
    data.write(path, labelled_structures())
    before = path.read_bytes()

    def half_then_interrupted(self, raw):
        with open(self, "wb") as f:
            f.write(raw[: len(raw) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", half_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.write(path, labelled_structures()[:1])
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["train.data"]


@pytest.mark.parametrize("field, value, message", [
    ("energy", "nan", "input.data, line 5: energy is 'nan', not a finite number: fix the value"),
    ("energy", "inf", "input.data, line 5: energy is 'inf', not a finite number"),
    ("fx", "-inf", "input.data, line 3: force is '-inf', not a finite number"),
    ("fx", "nan", "input.data, line 7: the force of the atom on line 3 is NaN while other atoms have one"),
    ("q", "nan", "input.data, line 7: the charge of the atom on line 3 is NaN while other atoms have one"),
])
def test_non_finite_labels_in_input_data_name_the_file_and_line(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        data.read(runner_file(tmp_path, **{field: value}))


def test_non_finite_labels_in_extxyz_name_the_structure_and_line(tmp_path):
    structures = labelled_structures()
    data.write(tmp_path / "ok.xyz", structures)
    text = (tmp_path / "ok.xyz").read_text()
    energy = f"energy={structures[1].get_potential_energy()!r}"
    assert energy in text
    (tmp_path / "bad.xyz").write_text(text.replace(energy, "energy=nan"))
    with pytest.raises(ValueError, match=r"bad.xyz, structure 1 \(line 7\) has a non-finite energy label.*or drop"):
        data.read(tmp_path / "bad.xyz")


def test_a_second_energy_or_charge_line_is_refused(tmp_path):
    with pytest.raises(ValueError, match="line 7: a second 'energy' line in the structure begun on line 1; "
                                         "a structure has one energy: delete one"):
        data.read(runner_file(tmp_path, extra="energy -2.0\n"))
    with pytest.raises(ValueError, match="line 7: a second 'charge' line"):
        data.read(runner_file(tmp_path, extra="charge 1.0\n"))


def test_energy_only_structures_round_trip_without_invented_forces_or_charges(tmp_path):
    from ase.calculators.calculator import PropertyNotImplementedError

    water = data.label(molecule("H2O"), energy=-14.2)
    _, (back,) = round_trip(tmp_path / "energies.data", [water])
    assert back.get_potential_energy() == pytest.approx(-14.2, rel=1e-15)
    with pytest.raises(PropertyNotImplementedError):
        back.get_forces()
    assert "charges" not in back.arrays
    assert "nan" in (tmp_path / "energies.data").read_text()  # the format's column says "no label"


def test_a_non_utf8_byte_is_kept_in_a_comment_and_named_elsewhere(tmp_path):
    path = runner_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"comment Na Cl", b"comment Na Cl by J\xf6rg"))
    assert data.read(path)[0].info["comment"] == "Na Cl by J\ufffdrg"
    path.write_bytes(path.read_bytes().replace(b" Cl -0.5", b" Cl\xa0-0.5"))
    with pytest.raises(ValueError, match=r"input.data', line 4: byte 0xa0 is not UTF-8 text; re-save the file as UTF-8"):
        data.read(path)
    (tmp_path / "x.xyz").write_bytes(b"1\nProperties=species:S:1:pos:R:3 name=J\xf6rg\nH 0 0 0\n")
    with pytest.raises(ValueError, match=r"x.xyz', line 2: byte 0xf6 is not UTF-8"):
        data.read(tmp_path / "x.xyz")


def test_a_folder_a_malformed_frame_and_a_truncated_gzip_are_named(tmp_path):
    (tmp_path / "set.xyz").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        data.read(tmp_path / "set.xyz")
    data.write(tmp_path / "ok.xyz", labelled_structures())
    lines = (tmp_path / "ok.xyz").read_text().splitlines(keepends=True)
    (tmp_path / "cut.xyz").write_text("".join(lines[:-1]))
    with pytest.raises(ValueError, match=r"cut.xyz, line 18: structure 2 announces 2 atoms but the file ends after 1"):
        data.read(tmp_path / "cut.xyz")
    (tmp_path / "bad.xyz").write_text("".join(lines[:8] + ["Na x y z\n"] + lines[9:]))
    with pytest.raises(ValueError, match=r"bad.xyz, structure 1 \(line 7\): ValueError: .*fix or drop"):
        data.read(tmp_path / "bad.xyz")
    data.write(tmp_path / "ok.xyz.gz", labelled_structures())
    (tmp_path / "cut.xyz.gz").write_bytes((tmp_path / "ok.xyz.gz").read_bytes()[:-20])
    with pytest.raises(ValueError, match="is not a complete gzip file .*cut short or damaged; fetch or regenerate"):
        data.read(tmp_path / "cut.xyz.gz")
