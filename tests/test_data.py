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


@pytest.mark.parametrize("name", ["set.extxyz", "set.xyz", "set.xyz.gz"])
def test_extxyz_round_trip_preserves_every_label(tmp_path, name):
    structures = labelled_structures()
    data.write(tmp_path / name, structures)
    back = data.read(tmp_path / name)
    assert len(back) == len(structures)
    for a, b in zip(structures, back):
        # ASE writes per-atom columns with 8 decimals and info values at full precision
        assert_same_structure(a, b, atol_columns=5.1e-9)
        assert "charges" not in b.calc.results, "atomic charges belong in atoms.arrays, not on the calculator"
    np.testing.assert_allclose(back[0].get_stress(), structures[0].get_stress(), rtol=1e-15)
    assert back[1].info["comment"] == structures[1].info["comment"]


@pytest.mark.parametrize("name", ["input.data", "train.data.gz"])
def test_input_data_round_trip_preserves_every_field(tmp_path, name):
    structures = labelled_structures()
    data.write(tmp_path / name, structures)
    back = data.read(tmp_path / name)
    assert len(back) == len(structures)
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
