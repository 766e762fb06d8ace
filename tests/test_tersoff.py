"""Tersoff (minnp/potentials/tersoff.py) against LAMMPS, finite differences and the papers.

Reference values and the LAMMPS potential files come through tests/lammps_helpers.py; the
named parameter sets need no file.
"""

import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from conftest import finite_difference_forces, finite_difference_stress
from lammps_helpers import assert_matches, lammps_live, potential_file, reference_cases

from minnp import Calculator, atoms_to_batch, compute
from minnp.potentials import Tersoff
from minnp.potentials.tersoff import (FIELDS, NAMED_SETS, bond_order, read_lammps_entries,
                                      tersoff_energies_per_atom)

CASES = reference_cases("tersoff")


def rattled_sic(seed=3, cell_repeat=1) -> Atoms:
    atoms = bulk("SiC", "zincblende", a=4.36, cubic=True).repeat(cell_repeat)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0, 0.1, atoms.positions.shape)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
    return atoms


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_lammps_energies_forces_and_stress(case):
    model = Tersoff.from_lammps(potential_file(case["potential"]), case["names"])
    out = compute(model, atoms_to_batch(case["atoms"]), forces=True, stress=True)
    assert_matches(out, case)


def test_matches_lammps_live():
    for case in CASES:
        files = [potential_file(case["potential"])]
        live = lammps_live(case, files)
        model = Tersoff.from_lammps(files[0], case["names"])
        out = compute(model, atoms_to_batch(case["atoms"]), forces=True, stress=True)
        assert_matches(out, live)
        assert abs(live["energy"] - case["energy"]) < 1e-9, f"stored reference is stale for {case['name']}"


def test_si_c_diamond_energy_is_the_published_anchor():
    si = bulk("Si", "diamond", a=5.431)
    si.calc = Calculator(Tersoff.from_name("Si(C)"))
    assert si.get_potential_energy() / len(si) == pytest.approx(-4.62972372, abs=5e-9)


@pytest.mark.parametrize("name, names", [("Si(B)", ["Si(B)"]), ("Si(C)", ["Si(C)"]), ("Si(D)", ["Si(D)"]),
                                         ("C", ["C"])])
def test_named_sets_reproduce_lammps_sicge_file(name, names):
    """Written from the papers, the single-element sets equal SiCGe.tersoff's entries."""
    cases = [c for c in CASES if c["potential"] == "SiCGe.tersoff" and c["names"] == names]
    assert cases
    model = Tersoff.from_name(name)
    for case in cases:
        assert_matches(compute(model, atoms_to_batch(case["atoms"]), stress=True), case)


def test_named_sic_matches_lammps_sic_file_to_its_rounding():
    """Mixed by Tersoff's rules, SiC differs from SiC_1989.tersoff only through that file's
    rounded mixed cutoffs (D = 0.1527 for 0.15274...): a few μeV/atom."""
    model = Tersoff.from_name("SiC")
    for case in [c for c in CASES if c["potential"] == "SiC_1989.tersoff"]:
        out = compute(model, atoms_to_batch(case["atoms"]), forces=False)
        assert abs(out["energy"].item() - case["energy"]) / len(case["atoms"]) < 2e-5


def test_named_sic_mixing_rules():
    (_, entries) = NAMED_SETS["SiC"]
    si, c, sic = entries["Si", "Si", "Si"], entries["C", "C", "C"], entries["Si", "C", "C"]
    assert sic.B == pytest.approx(0.9776 * math.sqrt(si.B * c.B))
    assert sic.A == pytest.approx(math.sqrt(si.A * c.A))
    assert sic.lambda1 == pytest.approx((si.lambda1 + c.lambda1) / 2)
    assert sic.R - sic.D == pytest.approx(math.sqrt(2.7 * 1.8))  # Tersoff's R_ij
    assert sic.R + sic.D == pytest.approx(math.sqrt(3.0 * 2.1))  # and S_ij
    assert entries["Si", "Si", "C"].R == sic.R and entries["Si", "C", "Si"].R == si.R  # cutoff acts on r_ik


def test_forces_match_finite_differences():
    atoms = rattled_sic()
    model = Tersoff.from_name("SiC")
    batch = atoms_to_batch(atoms)
    forces = compute(model, batch)["forces"].numpy()
    entries = [(0, 0), (3, 1), (5, 2), (7, 0)]
    fd = finite_difference_forces(model, atoms, entries)
    for atom, axis in entries:
        assert fd[atom, axis] == pytest.approx(forces[atom, axis], abs=1e-7)


def test_stress_matches_finite_differences():
    atoms = rattled_sic(seed=4)
    model = Tersoff.from_name("SiC")
    stress = compute(model, atoms_to_batch(atoms), stress=True)["stress"][0].numpy()
    entries = [(0, 0), (1, 2), (2, 1), (0, 1)]
    fd = finite_difference_stress(model, atoms, entries)
    for a, b in entries:
        assert fd[a, b] == pytest.approx(stress[a, b], abs=1e-8)


def test_energies_sum_to_total_and_batching_changes_nothing():
    structures = [rattled_sic(1), bulk("Si", "diamond", a=5.43), bulk("C", "diamond", a=3.57).repeat(2)]
    model = Tersoff.from_name("SiC")
    together = compute(model, atoms_to_batch(structures), stress=True)
    start = 0
    for s, atoms in enumerate(structures):
        alone = compute(model, atoms_to_batch(atoms), stress=True)
        n = len(atoms)
        assert together["energy"][s].item() == pytest.approx(alone["energy"].item(), abs=1e-10)
        assert together["energies"][start:start + n].sum().item() == pytest.approx(alone["energy"].item(), abs=1e-10)
        np.testing.assert_allclose(together["forces"][start:start + n], alone["forces"], atol=1e-11)
        np.testing.assert_allclose(together["stress"][s], alone["stress"][0], atol=1e-11)
        start += n


def test_dimer_without_neighbours_has_bond_order_one():
    """ζ = 0 gives b = 1 with a finite derivative, so a lone Si2 dimer is a plain pair potential."""
    r = 2.3
    dimer = Atoms("Si2", positions=[[0, 0, 0], [r, 0, 0]], pbc=False)
    entry = NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"]
    out = compute(Tersoff.from_name("Si(C)"), atoms_to_batch(dimer))
    expected = entry.A * math.exp(-entry.lambda1 * r) - entry.B * math.exp(-entry.lambda2 * r)
    assert out["energy"].item() == pytest.approx(expected, rel=1e-12)
    force = entry.A * entry.lambda1 * math.exp(-entry.lambda1 * r) - entry.B * entry.lambda2 * math.exp(-entry.lambda2 * r)
    assert out["forces"][1, 0].item() == pytest.approx(force, rel=1e-10)
    assert bond_order(torch.zeros(1), 1e-6, 0.78) == 1.0


def test_unknown_element_is_named():
    atoms = bulk("Si", "diamond", a=5.43)
    atoms[0].symbol = "O"
    with pytest.raises(ValueError, match="'O' not among this Tersoff potential's species"):
        compute(Tersoff.from_name("Si(C)"), atoms_to_batch(atoms))


def test_unknown_named_set_lists_the_names():
    with pytest.raises(ValueError, match=r"Si\(B\)"):
        Tersoff.from_name("Si")


ENTRY = "Si Si Si 3.0 1.0 1.3258 4.8381 2.0417 0.0 22.956 0.33675 1.3258 95.373 3.0 0.2 3.2394 3264.7"


@pytest.mark.parametrize("text, message", [
    (f"# comment\n{ENTRY}\nSi Si C 3.0 1.0 1.3 4.8 2.0 0.0 22.9 0.3 1.3 95.3 x 0.2 3.2 3264.7\n",
     r"bad.tersoff, line 3: 'x' is not a number"),
    (f"{ENTRY}\n\nC C C 3 1 0 38049 4.3484 -0.57 0.72 1.5e-7 2.2 346.7 1.95\n",
     r"bad.tersoff, line 3: file ends inside an entry \(14 of 17 values\)"),
    (f"{ENTRY} 1.0\n", r"bad.tersoff, line 1: entry has 18 values, expected 17"),
    (ENTRY.replace(" 0.2 ", " 3.5 ") + "\n", r"bad.tersoff, line 1: D = 3.5 is larger than R = 3"),
    (ENTRY.replace("3.0 1.0", "2.0 1.0", 1) + "\n", r"bad.tersoff, line 1: m = 2"),
    (f"{ENTRY}\n{ENTRY}\n", r"bad.tersoff, line 2: duplicate entry for Si Si Si"),
])
def test_malformed_file_error_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.tersoff"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_lammps_entries(path)


@pytest.mark.parametrize("word", ["nan", "inf", "-inf"])
def test_non_finite_parameter_is_rejected_with_file_and_line(tmp_path, word):
    path = tmp_path / "bad.tersoff"
    path.write_text(f"# Si\n{ENTRY.replace(' 4.8381 ', f' {word} ')}\n")
    with pytest.raises(ValueError, match=rf"bad.tersoff, line 2: '{word}' is not a finite number "
                                         r"\(c of entry Si Si Si\).*fix or regenerate the file"):
        Tersoff.from_lammps(path)
    entry = NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"]._replace(c=float(word))
    with pytest.raises(ValueError, match="entries for Si Si Si hold non-finite values"):
        Tersoff(["Si"], {("Si", "Si", "Si"): entry})


def test_non_utf8_byte_is_tolerated_in_comments_and_named_elsewhere(tmp_path):
    path = tmp_path / "latin1.tersoff"
    path.write_bytes(f"# fitted by J. Mu\xf1oz\n{ENTRY}  # r\xe9f\n".encode("latin-1"))
    assert Tersoff.from_lammps(path).entries["Si", "Si", "Si"].A == 3264.7
    path.write_bytes((ENTRY.replace("Si Si Si", "Si Si S\xed") + "\n").encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.tersoff, line 1: byte 0xed is not UTF-8 text.*convert the file to UTF-8"):
        Tersoff.from_lammps(path)


def test_directory_or_missing_path_is_named_as_such(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"Tersoff file .* is a directory, not a file: give the path"):
        Tersoff.from_lammps(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Tersoff file .*Si.tersoff' not found: check the path"):
        Tersoff.from_lammps(tmp_path / "Si.tersoff")


def test_float32_batch_gives_float32_energies_close_to_float64():
    atoms = rattled_sic(seed=5)
    model = Tersoff.from_name("SiC")
    exact = compute(model, atoms_to_batch(atoms), stress=True)
    single = compute(model, atoms_to_batch(atoms, dtype=torch.float32), stress=True)
    assert single["energies"].dtype == single["forces"].dtype == torch.float32
    assert single["energy"].item() == pytest.approx(exact["energy"].item(), rel=1e-6)
    np.testing.assert_allclose(single["forces"].numpy(), exact["forces"].numpy(), atol=1e-3)


def test_missing_triple_and_ambiguous_element_are_explained(tmp_path):
    carbon = "C C C 3 1 0 38049 4.3484 -0.57058 0.72751 1.5724e-7 2.2119 346.74 1.95 0.15 3.4879 1393.6"
    path = tmp_path / "SiC_incomplete.tersoff"
    path.write_text(f"{ENTRY}\n{carbon}\n")
    with pytest.raises(ValueError, match="SiC_incomplete.tersoff has no entry for Si Si C"):
        Tersoff.from_lammps(path)
    assert Tersoff.from_lammps(path, ["C"]).species == ["C"]
    path = tmp_path / "two_silicons.tersoff"
    path.write_text(f"{ENTRY}\n{ENTRY.replace('Si Si Si', 'Si(X) Si(X) Si(X)')}\n")
    with pytest.raises(ValueError, match="several entries for one element"):
        Tersoff.from_lammps(path)


def test_lammps_file_and_named_set_give_same_entries():
    model = Tersoff.from_lammps(potential_file("SiCGe.tersoff"), ["Si(C)"])
    assert model.entries["Si", "Si", "Si"] == pytest.approx(NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"], rel=1e-14)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu():
    atoms = rattled_sic(cell_repeat=2)
    model = Tersoff.from_name("SiC")
    cpu = compute(model, atoms_to_batch(atoms), stress=True)
    gpu = compute(model.to("cuda"), atoms_to_batch(atoms, device="cuda"), stress=True)
    assert gpu["energy"].item() == pytest.approx(cpu["energy"].item(), abs=1e-9)
    np.testing.assert_allclose(gpu["forces"].cpu(), cpu["forces"], atol=1e-9)


def test_bond_order_equals_the_formula_where_beta_zeta_matters():
    np.testing.assert_allclose(bond_order(torch.tensor([2.0]), 0.33675, 22.956), (1 + 0.6735**22.956) ** (-1 / 45.912))


def test_per_atom_parameters_equal_to_an_element_entry_give_that_element_potential():
    """The energy written for per-atom parameters (notebook 12) is Tersoff's when all atoms share one entry."""
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    atoms.rattle(0.1, seed=6)
    model = Tersoff.from_name("Si(C)")
    batch = atoms_to_batch(atoms)
    fixed = compute(model, batch, stress=True)
    entry = torch.tensor(NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"], dtype=torch.float64)
    parameters = entry.expand(len(atoms), len(FIELDS)).clone().requires_grad_(True)  # (N, 14)
    energies = tersoff_energies_per_atom(batch, parameters, model.r_cut)
    np.testing.assert_allclose(energies.detach().numpy(), fixed["energies"].numpy(), rtol=0, atol=1e-12)
    energies.sum().backward()
    assert torch.isfinite(parameters.grad).all()
    h, column = 1e-3, FIELDS.index("A")  # the energy is linear in A: the difference quotient is exact
    shifted = parameters.detach().clone()
    shifted[0, column] += h
    change = (tersoff_energies_per_atom(batch, shifted, model.r_cut).sum() - energies.sum()).item() / h
    assert parameters.grad[0, column].item() == pytest.approx(change, rel=1e-8) and change > 0
    with pytest.raises(ValueError, match=r"parameters have shape \(8, 13\); expected \(n_atoms, 14\)"):
        tersoff_energies_per_atom(batch, parameters[:, :13], model.r_cut)


def test_one_element_shortcut_equals_the_mixture_path_to_1e12():
    """Tersoff.energies passes a one-element potential's entry as a view (no gathers, no pair
    filtering); the mixture path (every entry gathered per bond and triple) gives the same numbers
    on pure Si, where the Si-Si-Si entry is all that acts."""
    species, entries = NAMED_SETS["SiC"]
    mixture = Tersoff(species, entries)
    pure = Tersoff(["Si"], {("Si", "Si", "Si"): entries["Si", "Si", "Si"]})
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=7)
    one, two = (compute(model, atoms_to_batch(atoms), stress=True) for model in (pure, mixture))
    for key in ("energy", "energies", "forces", "stress"):
        np.testing.assert_allclose(one[key].numpy(), two[key].numpy(), rtol=0, atol=1e-12, err_msg=key)



# --- FittableTersoff: the parameters trained by gradient descent (notebook 12) -------------------

def _fitted_si(seed=0):
    """Si(C) with its fitted parameters moved as a few steps of training would move them."""
    from minnp.potentials.fittable_tersoff import FittableTersoff
    model = FittableTersoff.from_name("Si(C)")
    with torch.no_grad():
        model.free += torch.as_tensor(np.random.default_rng(seed).normal(0, 0.05, model.free.shape))
        model.energy_shift.fill_(-0.7)
    return model


def test_fittable_tersoff_starts_as_tersoff_and_its_table_follows_training():
    from minnp.potentials.fittable_tersoff import FittableTersoff
    atoms = rattled_sic(cell_repeat=1)
    atoms.numbers[:] = 14
    model = FittableTersoff.from_name("Si(C)")
    np.testing.assert_allclose(compute(model, atoms_to_batch(atoms), stress=True)["stress"],
                               compute(Tersoff.from_name("Si(C)"), atoms_to_batch(atoms), stress=True)["stress"],
                               rtol=0, atol=1e-12)
    moved = _fitted_si()
    out = compute(moved, atoms_to_batch(atoms), stress=True)
    assert torch.equal(moved.table, moved.parameter_table().detach())  # the buffer holds the current set
    plain = compute(moved.tersoff(), atoms_to_batch(atoms), stress=True)
    np.testing.assert_allclose(out["energies"], plain["energies"] - 0.7, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["forces"], plain["forces"], rtol=0, atol=1e-12)


def test_fittable_tersoff_parameter_gradients_match_finite_differences():
    atoms = rattled_sic()
    atoms.numbers[:] = 14
    model = _fitted_si(1)
    batch = atoms_to_batch(atoms)
    model(batch).sum().backward()
    for k in range(model.free.shape[-1]):
        h = 1e-6
        with torch.no_grad():
            model.free[..., k] += h
            plus = model(batch).sum().item()
            model.free[..., k] -= 2 * h
            minus = model(batch).sum().item()
            model.free[..., k] += h
        assert model.free.grad[0, 0, 0, k].item() == pytest.approx((plus - minus) / (2 * h), rel=1e-6, abs=1e-8)


def test_fitted_tersoff_runs_in_lammps_with_the_same_numbers(tmp_path):
    """A refitted table is still a Tersoff file: LAMMPS reads it and agrees (energy less the shift)."""
    import make_lammps_reference as lammps_reference
    moved = _fitted_si(2)
    entry = moved.tersoff().entries["Si", "Si", "Si"]
    path = tmp_path / "Si_fitted.tersoff"
    path.write_text("Si Si Si " + " ".join(repr(float(v)) for v in entry) + "\n")
    atoms = lammps_reference.lammps_frame(bulk("Si", "diamond", a=5.43, cubic=True))
    atoms.rattle(0.1, seed=4)
    live = lammps_live({"atoms": atoms, "pair_style": "tersoff", "names": ["Si"], "elements": ["Si"],
                        "potential": path.name}, [path])
    out = compute(Tersoff.from_lammps(path), atoms_to_batch(atoms), forces=True, stress=True)
    assert_matches(out, live)
    shifted = compute(moved, atoms_to_batch(atoms), forces=True, stress=True)
    assert shifted["energy"].item() == pytest.approx(live["energy"] - 0.7 * len(atoms), abs=1e-9)


def test_fittable_tersoff_fit_lowers_the_error_and_keeps_a_valid_table():
    from minnp import train
    from minnp.data import label
    from minnp.potentials.fittable_tersoff import FittableTersoff
    entry = NAMED_SETS["Si(C)"][1]["Si", "Si", "Si"]
    teacher = Tersoff(["Si"], {("Si",) * 3: entry._replace(A=1.1 * entry.A, lambda1=1.02 * entry.lambda1)})
    structures = []
    for k in range(6):
        atoms = bulk("Si", "diamond", a=5.38 + 0.03 * k, cubic=True)
        atoms.rattle(0.05, seed=k)
        out = compute(teacher, atoms_to_batch(atoms))
        label(atoms, energy=float(out["energy"][0]) - 5.0, forces=out["forces"].numpy())
        structures.append(atoms)
    model = FittableTersoff.from_name("Si(C)")
    model.fit_energy_shift(structures[:4])
    before = train.evaluate(model, structures[:4])
    train.fit(model, structures[:4], structures[4:], epochs=15, batch_size=2, lr=1e-2, energy_weight=0.0,
              progress=False)
    after = train.evaluate(model, structures[:4])
    assert after["force_rmse"] < 0.5 * before["force_rmse"]
    plain = model.tersoff()  # LAMMPS' own checks of every entry pass
    assert plain.species == ["Si"] and torch.equal(plain.table, model.table)


def test_fittable_tersoff_refuses_parameters_it_cannot_vary():
    from minnp.potentials.fittable_tersoff import FittableTersoff
    with pytest.raises(ValueError, match="cannot vary 'R'"):
        FittableTersoff(*NAMED_SETS["Si(C)"], fit=["R"])
    with pytest.raises(ValueError, match=r"lambda3 = \[0.0\] cannot vary: it must be positive"):
        FittableTersoff(*NAMED_SETS["Si(D)"])  # λ3 = 0 in Si(D): leave it out
    assert FittableTersoff(*NAMED_SETS["Si(D)"], fit=["A", "B"]).free.shape == (1, 1, 1, 2)
