"""EAM (minnp/potentials/eam.py, eam_files.py, zhou_eam.py) against LAMMPS, finite differences, its own files and experiment.

Reference values and the LAMMPS potential files come through tests/lammps_helpers.py; the
analytic Zhou potential needs no file.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.units import GPa
from conftest import finite_difference_forces, finite_difference_stress
from lammps_helpers import assert_matches, case_files, lammps_live, lammps_reference, potential_file, reference_cases

from minnp import Calculator, atoms_to_batch, compute
from minnp.potentials import EAM, ZhouEAM
from minnp.potentials import eam as eam_module
from minnp.potentials.eam import eam_energies, lammps_spline, spline_value
from minnp.potentials.zhou_eam import ZHOU_2004

CASES = reference_cases("eam")


def model_for(case: dict, tmp_path: Path) -> EAM:
    """The potential of a case as LAMMPS read it: a wheel file, or one ZhouEAM writes now."""
    files = case_files(case, tmp_path)
    return EAM.from_file(files if len(files) > 1 else files[0])


def rattled(atoms, seed=0, amplitude=0.05, strain=0.0):
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + rng.normal(0, strain, (3, 3))), scale_atoms=True)
    atoms.positions += rng.normal(0, amplitude, atoms.positions.shape)
    return atoms


def cu_ag(seed=1):
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 1, 1))
    atoms.set_chemical_symbols(["Cu", "Ag"] * 4)
    return rattled(atoms, seed, 0.1, 0.02)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_lammps_energies_forces_and_stress(case, tmp_path):
    out = compute(model_for(case, tmp_path), atoms_to_batch(case["atoms"]), forces=True, stress=True)
    assert_matches(out, case)


def test_matches_lammps_live(tmp_path):
    for case in CASES:
        files = case_files(case, tmp_path)
        live = lammps_live(case, files)
        model = EAM.from_file(files if len(files) > 1 else files[0])
        assert_matches(compute(model, atoms_to_batch(case["atoms"]), stress=True), live)
        assert abs(live["energy"] - case["energy"]) < 1e-9, f"stored reference is stale for {case['name']}"


def test_cu_u3_gives_the_published_cohesive_energy():
    cu = bulk("Cu", "fcc", a=3.615)
    cu.calc = Calculator(EAM.from_file(potential_file("Cu_u3.eam")))
    assert cu.get_potential_energy() == pytest.approx(-3.54000000, abs=5e-9)


def test_zhou_analytic_matches_lammps_on_its_written_file():
    """The closed form against LAMMPS running the setfl file ZhouEAM wrote: tabulation error only."""
    model = ZhouEAM(["Cu", "Ag"])
    cases = [c for c in CASES if c["potential"] == lammps_reference.ZHOU_PREFIX + "Cu-Ag"]
    assert cases
    for case in cases:
        out = compute(model, atoms_to_batch(case["atoms"]), stress=True)
        assert_matches(out, case, energy_tol=1e-8, force_tol=1e-7, stress_rtol=1e-8)


def test_zhou_tabulation_converges_to_the_closed_form():
    atoms = cu_ag()
    analytic = compute(ZhouEAM(["Cu", "Ag"]), atoms_to_batch(atoms), stress=True)
    errors = []
    for n in (1000, 4000):
        table = compute(ZhouEAM(["Cu", "Ag"]).tabulate(nr=n, nrho=n), atoms_to_batch(atoms), stress=True)
        errors.append((table["forces"] - analytic["forces"]).abs().max().item())
    assert errors[1] < 1e-7
    assert errors[1] < errors[0] / 50  # a cubic spline: error ~ Δr⁴, 4x finer -> ~256x smaller


def test_written_setfl_reads_back_identically(tmp_path):
    for model in (ZhouEAM(["Cu", "Ag"]).tabulate(nr=600, nrho=500),
                  EAM.from_file([potential_file("Cu_u3.eam"), potential_file("Ni_u3.eam")])):
        model.write_setfl(tmp_path / "out.eam.alloy")
        again = EAM.from_file(tmp_path / "out.eam.alloy")
        assert again.species == model.species
        for name in ("frho", "rhor", "z2r", "drho", "dr", "r_cut", "masses"):
            np.testing.assert_array_equal(getattr(again, name), getattr(model, name))


def test_written_finnis_sinclair_file_reads_back_identically(tmp_path):
    model = EAM.from_file(potential_file("AlFe_mm.eam.fs"))  # the density of Al differs at Al and at Fe
    assert model.finnis_sinclair and not np.array_equal(model.rhor[0, 0], model.rhor[0, 1])
    model.write_fs(tmp_path / "out.eam.fs")
    again = EAM.from_file(tmp_path / "out.eam.fs")
    assert again.species == model.species and again.comment == model.comment
    for name in ("frho", "rhor", "z2r", "drho", "dr", "r_cut", "masses", "lattice_constants", "lattices"):
        np.testing.assert_array_equal(getattr(again, name), getattr(model, name))
    with pytest.raises(ValueError, match="a setfl file cannot hold: write it with write_fs"):
        model.write_setfl(tmp_path / "out.eam.alloy")
    assert not (tmp_path / "out.eam.alloy").exists()


def test_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "Cu.eam.alloy"
    model = ZhouEAM(["Cu"]).tabulate(nr=100, nrho=100)
    model.write_setfl(path)
    before = path.read_bytes()

    def disk_full(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr("minnp.potentials.eam_files._rows", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ZhouEAM(["Ag"]).tabulate(nr=100, nrho=100).write_setfl(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["Cu.eam.alloy"]


def test_float32_batch_gives_float32_energies_close_to_float64():
    atoms = cu_ag(7)
    for model in (ZhouEAM(["Cu", "Ag"]), ZhouEAM(["Cu", "Ag"]).tabulate(1000, 1000)):
        exact = compute(model, atoms_to_batch(atoms), stress=True)
        single = compute(model, atoms_to_batch(atoms, dtype=torch.float32), stress=True)
        assert single["energies"].dtype == single["forces"].dtype == torch.float32
        assert single["energy"].item() == pytest.approx(exact["energy"].item(), rel=1e-6)
        np.testing.assert_allclose(single["forces"].numpy(), exact["forces"].numpy(), atol=1e-4)


def test_zhou_cu_agrees_with_lammps_cu_zhou_file_on_the_fitted_properties():
    """Cu_zhou.eam.alloy is Zhou et al.'s 2001 parameterisation (Acta Mater. 49, 4005), not the
    2004 table ZhouEAM implements; both were fitted to the same lattice constant, cohesive
    energy and bulk modulus, which is what they share."""
    def lattice_energy_bulk_modulus(model):
        a = np.linspace(3.58, 3.65, 15)
        energies = []
        for x in a:
            cu = bulk("Cu", "fcc", a=x)
            cu.calc = Calculator(model)
            energies.append(cu.get_potential_energy())
        fit = np.polyfit(a, energies, 4)
        roots = np.roots(np.polyder(fit)).real
        a0 = roots[np.argmin(abs(roots - 3.615))]
        # B = V d²E/dV², V = a³/4 per atom
        d2E_da2, dV_da = np.polyval(np.polyder(fit, 2), a0), 3 * a0**2 / 4
        return a0, np.polyval(fit, a0), d2E_da2 / dV_da**2 * a0**3 / 4 / GPa

    zhou_2004 = lattice_energy_bulk_modulus(ZhouEAM(["Cu"]))
    zhou_2001 = lattice_energy_bulk_modulus(EAM.from_file(potential_file("Cu_zhou.eam.alloy")))
    assert zhou_2004[0] == pytest.approx(zhou_2001[0], abs=5e-4)  # Å
    assert zhou_2004[1] == pytest.approx(zhou_2001[1], abs=5e-4)  # eV/atom
    assert zhou_2004[2] == pytest.approx(zhou_2001[2], rel=0.01)  # GPa
    assert zhou_2004 == pytest.approx((3.615, -3.54, 138.0), rel=2e-3)  # the values fitted to


def test_zhou_functional_form_reproduces_cu_zhou_file_tables():
    """f and φ of the 2001 file follow the same closed form; with the 2001 constants (recovered
    from the file by least squares: they come out as the round 6-decimal numbers of a table)
    ZhouEAM.density and ZhouEAM.pair reproduce its tables. F(ρ) has another form in 2001."""
    file_model = EAM.from_file(potential_file("Cu_zhou.eam.alloy"))
    cu_2001 = ZHOU_2004["Cu"]._replace(f_e=1.554485, beta=4.090619, lambda_=0.86214, A=0.327584,
                                       B=0.468735, alpha=7.669911, kappa=0.431307)
    model = ZhouEAM(["Cu"], parameters={"Cu": cu_2001})
    r = torch.arange(1, file_model.nr, dtype=torch.float64) * file_model.dr
    keep = (r > 1.0) & (r < 8.0)
    t = torch.zeros_like(r, dtype=torch.long)
    np.testing.assert_allclose(model.density(r, t)[keep], file_model.rhor[0, 1:][keep.numpy()], rtol=1e-9)
    np.testing.assert_allclose((r * model.pair(r, t, t))[keep], file_model.z2r[0, 0, 1:][keep.numpy()], atol=1e-12)


def test_zhou_cu_elastic_constants_match_experiment():
    """C11, C12, C44 of Zhou 2004 Cu against the room-temperature experimental values it was
    fitted to (170.0, 122.5, 75.8 GPa)."""
    model = ZhouEAM(["Cu"])

    def stress(strain):
        cu = bulk("Cu", "fcc", a=3.615, cubic=True)
        cu.set_cell(cu.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        cu.calc = Calculator(model)
        return cu.get_stress(voigt=False)

    h = 1e-5
    normal, shear = np.diag([h, 0, 0]), np.array([[0, 0, 0], [0, 0, h / 2], [0, h / 2, 0]])
    c11, c12 = ((stress(normal) - stress(-normal)) / (2 * h))[[0, 1], [0, 1]] / GPa
    c44 = (stress(shear) - stress(-shear))[1, 2] / (2 * h) / GPa
    assert (c11, c12, c44) == pytest.approx((170.0, 122.5, 75.8), rel=0.01)


def test_forces_match_finite_differences():
    atoms = cu_ag(2)
    for model in (ZhouEAM(["Cu", "Ag"]), ZhouEAM(["Cu", "Ag"]).tabulate(2000, 2000)):
        forces = compute(model, atoms_to_batch(atoms))["forces"].numpy()
        entries = [(0, 0), (1, 1), (6, 2)]
        fd = finite_difference_forces(model, atoms, entries)
        for atom, axis in entries:
            assert fd[atom, axis] == pytest.approx(forces[atom, axis], abs=1e-7)


def test_stress_matches_finite_differences():
    atoms = cu_ag(3)
    model = ZhouEAM(["Cu", "Ag"])
    stress = compute(model, atoms_to_batch(atoms), stress=True)["stress"][0].numpy()
    entries = [(0, 0), (2, 2), (0, 2), (1, 2)]
    fd = finite_difference_stress(model, atoms, entries)
    for a, b in entries:
        assert fd[a, b] == pytest.approx(stress[a, b], abs=1e-8)


def test_energies_sum_to_total_and_batching_changes_nothing():
    structures = [cu_ag(4), bulk("Cu", "fcc", a=3.6), rattled(bulk("Ag", "fcc", a=4.09, cubic=True).repeat(2), 5)]
    model = ZhouEAM(["Cu", "Ag"])
    together = compute(model, atoms_to_batch(structures), stress=True)
    start = 0
    for s, atoms in enumerate(structures):
        alone = compute(model, atoms_to_batch(atoms), stress=True)
        n = len(atoms)
        assert together["energies"][start:start + n].sum().item() == pytest.approx(alone["energy"].item(), abs=1e-10)
        np.testing.assert_allclose(together["forces"][start:start + n], alone["forces"], atol=1e-11)
        np.testing.assert_allclose(together["stress"][s], alone["stress"][0], atol=1e-11)
        start += n


class ReadableEAM(torch.nn.Module):
    """A tabulated EAM computed by the readable eam_energies, forces by autograd through every spline."""

    def __init__(self, model: EAM):
        super().__init__()
        self.model = model

    def forward(self, batch):
        m = self.model
        return eam_energies(batch, m.r_cut, m.numbers, m.embedding, m.density, m.pair)


def assert_fast_equals_readable(model: EAM, atoms, tol=1e-12):
    """Energies, per-atom energies, forces and stress; ``atoms`` may be a list (a batch)."""
    fast = compute(model, atoms_to_batch(atoms), stress=True)
    slow = compute(ReadableEAM(model), atoms_to_batch(atoms), stress=True)
    for key in ("energy", "energies", "forces", "stress"):
        np.testing.assert_allclose(fast[key].numpy(), slow[key].numpy(), rtol=0, atol=tol, err_msg=key)


def test_fast_path_equals_readable_eam_to_1e12():
    """EAM.forward (analytic pair derivatives) against eam_energies (autograd): alloy, one element,
    and a compressed cell whose densities lie beyond ρ_max, where F continues linearly."""
    alloy = ZhouEAM(["Cu", "Ag"]).tabulate(2000, 2000)
    assert_fast_equals_readable(alloy, cu_ag(7))
    assert_fast_equals_readable(alloy, [cu_ag(9), rattled(bulk("Ag", "fcc", a=4.09, cubic=True).repeat(2), 10, 0.05, 0.02)])
    copper = ZhouEAM(["Cu"]).tabulate(2000, 2000, rho_max=30.0)
    squeezed = rattled(bulk("Cu", "fcc", a=3.3, cubic=True).repeat(2), 8)
    assert_fast_equals_readable(copper, squeezed)
    batch = atoms_to_batch(squeezed)
    t = torch.zeros(len(squeezed), dtype=torch.long)
    nbrs = batch.neighbors(copper.r_cut)
    densities = torch.zeros(len(squeezed), dtype=torch.float64).index_add(
        0, nbrs.i, copper.density(nbrs.vectors(batch).norm(dim=1), t[nbrs.j], t[nbrs.i]))
    assert (densities > copper.rho_max).all(), "the squeezed cell should test F beyond ρ_max"


ONE_CASE_PER_FILE = list({c["potential"]: c for c in CASES}.values())  # the last structure of each


@pytest.mark.parametrize("case", ONE_CASE_PER_FILE, ids=[c["name"] for c in ONE_CASE_PER_FILE])
def test_fast_path_equals_readable_eam_on_lammps_files(case, tmp_path):
    """funcfl, setfl and Finnis–Sinclair files: the fast path and the readable one agree to 1e-12."""
    assert_fast_equals_readable(model_for(case, tmp_path), case["atoms"])


def test_fast_path_chunks_pairs_without_changing_a_number(monkeypatch):
    """More pairs than one chunk (a 256-atom cell, chunks of 1000 pairs) give the readable numbers too."""
    monkeypatch.setattr(eam_module, "PAIR_CHUNK", 1000)
    atoms = rattled(bulk("Cu", "fcc", a=3.615, cubic=True).repeat(4), 11, 0.05, 0.01)
    assert_fast_equals_readable(ZhouEAM(["Cu", "Ag"]).tabulate(2000, 2000), atoms)


def test_fast_forces_refuse_second_derivatives_with_a_clear_message():
    model = ZhouEAM(["Cu"]).tabulate(1000, 1000)
    with pytest.raises(RuntimeError, match="first derivatives only"):
        compute(model, atoms_to_batch(rattled(bulk("Cu", "fcc", a=3.6, cubic=True))), create_graph=True)["forces"].sum().backward()


def test_lammps_spline_reproduces_cubics_exactly():
    """5-point slopes are exact for cubic polynomials, so the spline is too."""
    x = np.arange(20) * 0.1
    y = 1 - 2 * x + 0.5 * x**2 - 0.3 * x**3
    coefficients = torch.from_numpy(lammps_spline(y[None]))
    xs = torch.linspace(0.25, 1.65, 29, dtype=torch.float64)
    expected = 1 - 2 * xs + 0.5 * xs**2 - 0.3 * xs**3
    np.testing.assert_allclose(spline_value(coefficients, torch.zeros(29, dtype=torch.long), xs, 0.1), expected, atol=1e-13)


def test_unknown_element_is_named():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms[1].symbol = "Ni"
    with pytest.raises(ValueError, match="'Ni' not among this EAM potential's species"):
        compute(ZhouEAM(["Cu", "Ag"]), atoms_to_batch(atoms))
    with pytest.raises(ValueError, match="no Zhou 2004 parameters for \\['Xe'\\]"):
        ZhouEAM(["Xe"])


def _funcfl(nrho=8, nr=6, corrupt=None):
    lines = ["Cu test", "29 63.55 3.615 FCC", f"{nrho} 0.01 {nr} 0.5 2.5"]
    values = [" ".join(f"{v:.3f}" for v in np.linspace(0, -1, n)) for n in (nrho, nr, nr)]
    lines += values
    if corrupt:
        lines = corrupt(lines)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name, text, message", [
    ("bad.eam", _funcfl(corrupt=lambda l: l[:4] + [l[4].replace("-0.200", "abc")] + l[5:]),
     r"bad.eam, line 5: 'abc' is not a number \(Z\(r\) of Cu\)"),
    ("bad.eam", _funcfl(corrupt=lambda l: l[:5]), r"bad.eam, line 5: file ends after 0 of the 6 values of rho\(r\) of Cu"),
    ("bad.eam", _funcfl(corrupt=lambda l: l[:3] + [l[3] + " 1.0"] + l[4:]),
     r"bad.eam, line 4: 1 values too many for F\(rho\) of Cu"),
    ("bad.eam", _funcfl(corrupt=lambda l: l[:2] + ["8 0.01 six 0.5 2.5"] + l[3:]),
     r"bad.eam, line 3: 'six' is not an integer"),
    ("bad.eam.alloy", "c\nc\nc\n2 Cu\n", r"bad.eam.alloy, line 4: the header names 1 elements \['Cu'\] but says N = 2"),
    ("bad.eam.alloy", "c\nc\nc\n1 Qq\n", r"bad.eam.alloy, line 4: unknown element symbol 'Qq'"),
    ("bad.eam.fs", "", r"bad.eam.fs, line 1: file ends inside its header \(it has 0 lines\)"),
    ("bad.eam.xyz", "", r"cannot tell the format of 'bad.eam.xyz'"),
])
def test_malformed_file_error_names_file_and_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        EAM.from_file(path)


def _setfl(elements=("Cu",), n=20, corrupt=None):
    """A small valid setfl text (5 values a row) for element blocks of n-point tables."""
    lines = ["comment 1", "comment 2", "comment 3", f"{len(elements)} {' '.join(elements)}", f"{n} 0.1 {n} 0.25 4.5"]

    def table(values):
        return [" ".join(f"{v:.6f}" for v in values[k:k + 5]) for k in range(0, n, 5)]

    r = np.arange(n) * 0.25
    for element in elements:
        lines += ["29 63.546 3.615 fcc"] + table(-np.sqrt(np.arange(n) * 0.1)) + table(np.exp(-r))
    for a in range(len(elements)):
        lines += [line for b in range(a + 1) for line in table(10 * np.exp(-2 * r))]
    if corrupt:
        lines = corrupt(lines)
    return "\n".join(lines) + "\n"


def test_small_setfl_helper_makes_a_readable_file(tmp_path):
    path = tmp_path / "ok.eam.alloy"
    path.write_text(_setfl())
    assert EAM.from_file(path).frho.shape == (1, 20)


def _replace_line(number, text):
    return lambda lines: lines[:number - 1] + [text(lines[number - 1])] + lines[number:]


@pytest.mark.parametrize("corrupt, message", [
    (_replace_line(12, lambda line: line.replace(line.split()[2], "nan")),
     r"bad.eam.alloy, line 12: 'nan' is not a finite number \(rho\(r\) of Cu\).*fix or regenerate the file"),
    (_replace_line(8, lambda line: line.replace(line.split()[0], "inf")),
     r"line 8: 'inf' is not a finite number \(F\(rho\) of Cu\)"),
    (_replace_line(11, lambda line: " ".join(line.split()[:4])),  # found only at line 15
     r"bad.eam.alloy, line 11: this row has 4 values where the rows before it have 5.*"
     r"found at line 15.*add the missing values"),
])
def test_bad_table_value_or_short_row_is_reported_at_its_line(tmp_path, corrupt, message):
    path = tmp_path / "bad.eam.alloy"
    path.write_text(_setfl(corrupt=corrupt))
    with pytest.raises(ValueError, match=message):
        EAM.from_file(path)


def test_setfl_header_naming_an_element_twice_is_rejected(tmp_path):
    path = tmp_path / "twice.eam.alloy"
    path.write_text(_setfl(("Cu", "Cu")))
    with pytest.raises(ValueError, match=r"twice.eam.alloy, line 4: the header names Cu more than once \(2 Cu Cu\)"
                                         r".*list each element once"):
        EAM.from_file(path)


def test_non_utf8_byte_is_tolerated_in_comments_and_named_elsewhere(tmp_path):
    path = tmp_path / "latin1.eam.alloy"
    path.write_bytes(_setfl().replace("comment 1", "by J. Mu\xf1oz").encode("latin-1"))
    model = EAM.from_file(path)
    assert model.comment.startswith("by J. Mu\ufffdoz")
    model.write_setfl(tmp_path / "again.eam.alloy")  # the comment writes back as UTF-8
    path.write_bytes(_setfl().replace("29 63.546", "29 63.5\xb046").encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.eam.alloy, line 6: byte 0xb0 is not UTF-8 text.*convert the file to UTF-8"):
        EAM.from_file(path)
    funcfl = tmp_path / "latin1.eam"
    funcfl.write_bytes(_funcfl().replace("Cu test", "Cu, \xe9crit par moi").encode("latin-1"))
    assert EAM.from_file(funcfl).species == ["Cu"]


def test_directory_or_missing_path_is_named_as_such(tmp_path):
    folder = tmp_path / "Cu.eam.alloy"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"EAM file .*Cu.eam.alloy' is a directory, not a file: give the path"):
        EAM.from_file(folder)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        EAM.from_file([folder])
    with pytest.raises(FileNotFoundError, match=r"EAM file .*nothing.eam' not found: check the path"):
        EAM.from_file(tmp_path / "nothing.eam")


def test_non_finite_table_given_directly_is_rejected():
    good = ZhouEAM(["Cu"]).tabulate(nr=100, nrho=100)
    frho = good.frho.copy()
    frho[0, 50] = np.nan
    with pytest.raises(ValueError, match="table frho holds non-finite values"):
        EAM(good.species, frho, good.rhor, good.z2r, good.drho, good.dr, good.r_cut)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu():
    atoms = cu_ag(6).repeat(2)
    for model in (ZhouEAM(["Cu", "Ag"]), ZhouEAM(["Cu", "Ag"]).tabulate()):
        cpu = compute(model, atoms_to_batch(atoms), stress=True)
        gpu = compute(model.to("cuda"), atoms_to_batch(atoms, device="cuda"), stress=True)
        assert gpu["energy"].item() == pytest.approx(cpu["energy"].item(), abs=1e-9)
        np.testing.assert_allclose(gpu["forces"].cpu(), cpu["forces"], atol=1e-9)
