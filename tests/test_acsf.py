"""minnp.descriptors.ACSF: DScribe's numbers and layout (run live), and autograd derivatives."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from conftest import peer, random_cell_structure

from minnp.batch import atoms_to_batch
from minnp.descriptors import ACSF, SOAP, Descriptor, from_config
from minnp.descriptors.base import jacobian_on_atoms
from minnp.descriptors.properties import check_invariances, pair_jacobian_error
from minnp.neighbors import neighbor_triples


def DScribeACSF(**params):
    return peer("dscribe.descriptors").ACSF(**params)


# Parameter sets with every kind of function, non-integer zeta and negative lambda.
PARAMETER_SETS = {
    "all_five": dict(g2_params=[[1.0, 0.0], [0.5, 1.5], [0.05, 3.0]], g3_params=[1.0, 2.3, -0.7],
                     g4_params=[[0.01, 1.0, 1.0], [0.1, 2.5, -1.0], [0.02, 4.0, 1.0]],
                     g5_params=[[0.01, 1.0, -1.0], [0.3, 1.7, 1.0]]),
    "g4_only": dict(g4_params=[[0.005, 1.0, 1.0], [0.005, 1.0, -1.0], [0.05, 16.0, 1.0], [0.0, 3.3, -1.0]]),
    "g5_only": dict(g5_params=[[0.04, 2.0, -1.0], [0.001, 0.5, 1.0], [0.2, 7.0, 0.5]]),
    "radial_only": dict(g2_params=[[4.0, 1.0], [0.0, 0.0]], g3_params=[3.1]),
    "g1_only": dict(),
}
INTEGER_ZETA = dict(g2_params=[[0.3, 1.0], [2.0, 2.5]], g3_params=[1.3],
                    g4_params=[[0.01, 1, 1], [0.05, 2, -1], [0.1, 4, 1]],
                    g5_params=[[0.02, 1, -1], [0.2, 2, 1]])


def assert_dscribe_parity(ours, ref, tol=1e-10, collinear_nan=False):
    """Per structure: max|diff| ≤ tol·max|ref|, and rtol 1e-6 on every feature above 1e-6·max.

    ``collinear_nan``: DScribe returns NaN for an exactly collinear triangle (cos θ rounds past
    ±1) under a non-integer zeta; there minnp is finite, and the other features are compared.
    """
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    assert np.isfinite(ours).all()
    if collinear_nan:
        ours, ref = ours[np.isfinite(ref)], ref[np.isfinite(ref)]
    assert np.isfinite(ref).all(), "the reference itself has NaN: choose another test structure"
    scale = np.abs(ref).max()
    assert scale > 0
    worst = np.abs(ours - ref).max()
    assert worst <= tol * scale, f"max |diff| {worst:.3g} vs max {scale:.3g}"
    big = np.abs(ref) > 1e-6 * scale
    np.testing.assert_allclose(ours[big], ref[big], rtol=1e-6)


def both(structures, species, r_cut, periodic=False, **params):
    """Our create and DScribe's create on the same input."""
    ours = ACSF(species=species, r_cut=r_cut, periodic=periodic, **params)
    ref = DScribeACSF(species=species, r_cut=r_cut, periodic=periodic, **params)
    assert ours.get_number_of_features() == ref.get_number_of_features()
    return ours.create(structures), ref.create(structures)


def cluster(rng, symbols="HCNOHHCO", spread=2.2):
    n = len(symbols)
    return Atoms(symbols, positions=rng.normal(0, spread, (n, 3)))


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_features_match_dscribe_on_multispecies_clusters(rng, name):
    for _ in range(3):
        atoms = cluster(rng)
        assert_dscribe_parity(*both(atoms, ["H", "C", "N", "O"], 5.0, **PARAMETER_SETS[name]))


def test_features_match_dscribe_on_molecules_with_unused_species():
    structures = [molecule("CH3CH2OH"), molecule("CH3NO2"), molecule("H2O")]
    ours, ref = both(structures, ["S", "O", "H", "N", "C"], 6.0, **INTEGER_ZETA)  # species unsorted
    for a, b in zip(ours, ref):
        assert_dscribe_parity(a, b)


def test_features_match_dscribe_on_periodic_rocksalt(rng):
    atoms = bulk("NaCl", "rocksalt", a=5.64) * (2, 2, 1)
    atoms.rattle(0.05, seed=1)
    ours, ref = both(atoms, ["Na", "Cl"], 6.0, periodic=True, **PARAMETER_SETS["all_five"])
    assert_dscribe_parity(ours, ref, collinear_nan=True)  # an atom and two of its own images
    assert_dscribe_parity(*both(atoms, ["Na", "Cl"], 6.0, periodic=True, **INTEGER_ZETA))


def test_exactly_collinear_triangles_are_finite_where_dscribe_returns_nan():
    a, r_cut, eta, zeta = 3.0, 6.5, 0.01, 1.7
    atoms = Atoms("Ar", cell=np.eye(3) * a, pbc=True)  # the atom's images at ±a are collinear with it
    params = dict(species=["Ar"], r_cut=r_cut, g5_params=[[eta, zeta, 1.0]], periodic=True)
    ours, ref = ACSF(**params).create(atoms)[0], DScribeACSF(**params).create(atoms)[0]
    assert np.isnan(ref[1])
    # brute force over images, cos θ from the dot product (no rounding past -1)
    images = np.array([[x, y, z] for x in range(-3, 4) for y in range(-3, 4) for z in range(-3, 4)]) * a
    r_vec = images[(np.linalg.norm(images, axis=1) <= r_cut) & (np.abs(images).sum(axis=1) > 0)]
    r = np.linalg.norm(r_vec, axis=1)
    fc = 0.5 * (np.cos(np.pi * r / r_cut) + 1)
    j, k = np.triu_indices(len(r), 1)
    cos = np.clip(np.sum(r_vec[j] * r_vec[k], axis=1) / (r[j] * r[k]), -1, 1)
    g5 = np.sum(2 * (0.5 * (1 + cos)) ** zeta * np.exp(-eta * (r[j] ** 2 + r[k] ** 2)) * fc[j] * fc[k])
    np.testing.assert_allclose(ours, [fc.sum(), g5], rtol=1e-12)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, True, False), (False, True, False)])
def test_features_match_dscribe_on_triclinic_cells_smaller_than_the_cutoff_with_atoms_outside(rng, pbc):
    for _ in range(3):
        atoms = random_cell_structure(rng, n_atoms=5, pbc=pbc, scale=3.5, symbols="NaClONH")[:5]
        scaled = atoms.get_scaled_positions(wrap=False)
        assert np.any(scaled < 0) or np.any(scaled > 1)
        assert_dscribe_parity(*both(atoms, ["H", "N", "O", "Na", "Cl"], 5.5, periodic=True, **INTEGER_ZETA))


def test_features_match_dscribe_for_an_atom_far_outside_the_cell():
    atoms = bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    atoms.rattle(0.05, seed=3)
    atoms.positions[0] += 3 * atoms.cell[0] - 2 * atoms.cell[2] + [0.7, 0.2, -0.4]
    ours, ref = both(atoms, ["Si"], 5.0, periodic=True, **INTEGER_ZETA)
    assert_dscribe_parity(ours, ref)
    # DScribe's finite block of images loses neighbours here; forward (all images) does not.
    acsf = ACSF(species=["Si"], r_cut=5.0, periodic=True, **INTEGER_ZETA)
    wrapped = atoms.copy()
    wrapped.wrap()
    full = acsf(atoms_to_batch(atoms)).numpy()
    np.testing.assert_allclose(full, acsf.create(wrapped), rtol=1e-12, atol=1e-12)
    assert np.abs(full - ours).max() > 1e-3, "the test structure must be one where DScribe drops images"


def test_features_match_dscribe_on_slab_with_zero_length_nonperiodic_vector(rng):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=4)
    atoms.cell[2] = [0.0, 0.0, 0.0]
    atoms.pbc = (True, True, False)
    ours = ACSF(species=["Cu"], r_cut=5.0, periodic=True, **INTEGER_ZETA)
    # DScribe refuses a zero-volume cell, so compare with the same slab given a vacuum vector.
    atoms_vacuum = atoms.copy()
    atoms_vacuum.cell[2] = [0.0, 0.0, 30.0]
    ref = DScribeACSF(species=["Cu"], r_cut=5.0, periodic=True, **INTEGER_ZETA).create(atoms_vacuum)
    assert_dscribe_parity(ours.create(atoms), ref)


def test_periodic_false_ignores_the_cell():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=5)
    ours, ref = both(atoms, ["Si"], 5.0, periodic=False, **INTEGER_ZETA)
    assert_dscribe_parity(ours, ref)
    isolated = Atoms(atoms.numbers, atoms.positions)
    np.testing.assert_array_equal(ours, ACSF(species=["Si"], r_cut=5.0, **INTEGER_ZETA).create(isolated))
    # the torch path describes the cluster the same way
    acsf = ACSF(species=["Si"], r_cut=5.0, **INTEGER_ZETA)
    np.testing.assert_allclose(acsf(atoms_to_batch(isolated)).numpy(), ours, rtol=1e-13, atol=1e-13)


def test_a_model_path_refuses_a_periodic_structure_with_a_periodic_false_descriptor():
    """DScribe's default periodic=False would treat a crystal as a cluster: an HDNNP on it would
    give a cell and its supercell different energies per atom. create() keeps DScribe's meaning;
    forward and pair_jacobian (what models call) refuse, naming the fix."""
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    acsf = ACSF(species=["Si"], r_cut=5.0, **INTEGER_ZETA)
    for path in (acsf, acsf.pair_jacobian):
        with pytest.raises(ValueError, match=r"periodic=False.*isolated clusters.*periodic=True"):
            path(atoms_to_batch(atoms))


@pytest.mark.parametrize("name", ["all_five", "g4_only"])
def test_many_parameter_sets_match_dscribe_on_periodic_multispecies_cell(rng, name):
    atoms = random_cell_structure(rng, n_atoms=8, scale=5.0, symbols="CHOCHONN")
    assert_dscribe_parity(*both(atoms, ["H", "C", "N", "O"], 4.5, periodic=True, **PARAMETER_SETS[name]))


def test_centers_and_lists_have_dscribe_shapes():
    acsf = ACSF(species=["H", "C", "O"], r_cut=5.0, **INTEGER_ZETA)
    ref = DScribeACSF(species=["H", "C", "O"], r_cut=5.0, **INTEGER_ZETA)
    a, b = molecule("CH3OH"), molecule("H2CO")
    cases = [(a,), ([a, a],), ([a, b],), (a, [0, 2]), ([a, b], [[1], [0, 3]]), ([a, b], [[1, 2], [0, 3]])]
    for args in cases:
        ours, theirs = acsf.create(*args), ref.create(*args)
        assert type(ours) is type(theirs)
        if not isinstance(ours, list):
            ours, theirs = [ours], [theirs]
        for x, y in zip(ours, theirs):
            assert x.shape == y.shape
            assert_dscribe_parity(x, y)


def test_angular_blocks_follow_dscribes_real_pair_order():
    # A C centre with one H and one O neighbour lights up block 3 (H-O), not block 2.
    atoms = Atoms("CHO", positions=[[0, 0, 0], [1.1, 0, 0], [0, 1.3, 0]])
    acsf = ACSF(species=["H", "C", "O"], r_cut=4.0, g4_params=[[0.01, 1, 1]])
    x = acsf.create(atoms, centers=[0])[0]
    names = acsf.feature_names()
    lit = [names[k] for k in np.flatnonzero(x) if names[k].startswith("G4")]
    assert lit == ["G4(eta=0.01, zeta=1, lambda=1) H-O"]
    assert np.flatnonzero(x)[-1] == 3 * 1 + 3  # 3 radial G1 blocks, then angular block 3
    assert_dscribe_parity(x, DScribeACSF(species=["H", "C", "O"], r_cut=4.0, g4_params=[[0.01, 1, 1]]).create(
        atoms, centers=[0])[0])


def test_feature_names_match_the_layout():
    acsf = ACSF(species=["O", "H"], r_cut=5.0, **INTEGER_ZETA)
    names = acsf.feature_names()
    assert len(names) == acsf.get_number_of_features() == len(set(names))
    assert names[0] == "G1 H" and names[4] == "G1 O"
    assert names[8] == "G4(eta=0.01, zeta=1, lambda=1) H-H"
    assert names[-1] == "G5(eta=0.2, zeta=2, lambda=1) O-O"


def test_hand_computed_g2_and_g4_for_a_triangle():
    r_cut, eta, r_s, zeta, lambda_ = 4.0, 0.3, 0.5, 2.0, -1.0
    x = np.array([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0], [0.3, 1.5, 0.0]])
    acsf = ACSF(species=["Ar"], r_cut=r_cut, g2_params=[[eta, r_s]], g4_params=[[eta, zeta, lambda_]])
    got = acsf.create(Atoms("Ar3", positions=x), centers=[0])[0]
    fc = lambda r: 0.5 * (np.cos(np.pi * r / r_cut) + 1)  # noqa: E731
    r_ij, r_ik, r_jk = np.linalg.norm(x[1]), np.linalg.norm(x[2]), np.linalg.norm(x[2] - x[1])
    g2 = sum(np.exp(-eta * (r - r_s) ** 2) * fc(r) for r in (r_ij, r_ik))
    cos = x[1] @ x[2] / (r_ij * r_ik)
    g4 = 2 ** (1 - zeta) * (1 + lambda_ * cos) ** zeta * np.exp(-eta * (r_ij**2 + r_ik**2 + r_jk**2)) \
        * fc(r_ij) * fc(r_ik) * fc(r_jk)
    np.testing.assert_allclose(got, [fc(r_ij) + fc(r_ik), g2, g4], rtol=1e-13)


def test_unordered_triples_are_the_ordered_triples_with_p_less_than_q(rng):
    batch = atoms_to_batch([random_cell_structure(rng, 6), molecule("C6H6")])
    nbrs = batch.neighbors(4.0)
    p, q = neighbor_triples(nbrs, len(batch.numbers))
    keep = p < q
    mine = neighbor_triples(nbrs, len(batch.numbers), unordered=True)
    assert torch.equal(mine[0], p[keep]) and torch.equal(mine[1], q[keep])


def test_batched_forward_equals_create_per_structure(rng):
    acsf = ACSF(species=["H", "C", "N", "O"], r_cut=4.5, periodic=True, **PARAMETER_SETS["all_five"])
    structures = [cluster(rng), random_cell_structure(rng, 6, symbols="CHOCHO"), molecule("CH3CH2NH2")]
    for a in structures[1:2]:
        a.wrap()  # forward and create agree when atoms are inside the cell
    batched = acsf(atoms_to_batch(structures))
    expected = np.concatenate([acsf.create(a) for a in structures])
    np.testing.assert_allclose(batched.detach().numpy(), expected, rtol=1e-13, atol=1e-13)


def test_features_are_invariant_under_rotation_translation_permutation_and_supercell(rng):
    atoms = random_cell_structure(rng, 7, scale=4.5, symbols="CHONCHO")
    acsf = ACSF(species=["H", "C", "N", "O"], r_cut=5.0, periodic=True, **PARAMETER_SETS["all_five"])
    check_invariances(lambda a: acsf(atoms_to_batch(a)).numpy(), atoms, tol=1e-10)


def _gradcheck_positions_and_cell(acsf, batch, rng) -> bool:
    """gradcheck of a random linear functional of all features (like an energy) in positions and cell."""
    weights = torch.tensor(rng.normal(size=(int(batch.n_atoms.sum()), acsf.get_number_of_features())))

    def projected(positions, cell):
        return (acsf(batch.replace(positions=positions, cell=cell)) * weights).sum()

    inputs = (batch.positions.clone().requires_grad_(), batch.cell.clone().requires_grad_())
    return torch.autograd.gradcheck(projected, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_autograd_gradients_match_finite_differences_in_positions_and_cell(rng):
    atoms = random_cell_structure(rng, 4, scale=3.0, symbols="CHOH")
    acsf = ACSF(species=["H", "C", "O"], r_cut=3.5, periodic=True, **PARAMETER_SETS["all_five"])
    assert _gradcheck_positions_and_cell(acsf, atoms_to_batch(atoms), rng)


def test_double_backward_for_force_training(rng):
    atoms = cluster(rng, "HCOH")
    acsf = ACSF(species=["H", "C", "O"], r_cut=4.0, **INTEGER_ZETA)
    batch = atoms_to_batch(atoms)
    w = torch.tensor(rng.normal(size=acsf.get_number_of_features()), requires_grad=True)

    def forces_dot(weights, positions):  # dF/dweights needs a graph through dG/dx
        energy = (acsf(batch.replace(positions=positions)) @ weights).sum()
        return torch.autograd.grad(energy, positions, create_graph=True)[0].sum()

    inputs = (w, batch.positions.clone().requires_grad_())
    assert torch.autograd.gradcheck(forces_dot, inputs, eps=1e-6, atol=1e-5)


def test_derivatives_match_dscribe_numerical_derivatives():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.1, seed=6)
    params = dict(species=["Na", "Cl"], r_cut=4.5, periodic=True, **INTEGER_ZETA)
    d_ours, x_ours = ACSF(**params).derivatives(atoms)
    d_ref, x_ref = DScribeACSF(**params).derivatives(atoms, attach=True)
    assert d_ours.shape == d_ref.shape == (8, 8, 3, x_ref.shape[1])
    assert_dscribe_parity(x_ours, x_ref)
    assert np.abs(d_ours - d_ref).max() <= 1e-6 * max(1.0, np.abs(d_ref).max())


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_derivatives_equal_the_autograd_jacobian_of_forward(rng, name):
    atoms = cluster(rng, "HCNOH")
    acsf = ACSF(species=["H", "C", "N", "O"], r_cut=5.0, **PARAMETER_SETS[name])
    batch = atoms_to_batch(atoms)
    jac = torch.autograd.functional.jacobian(lambda x: acsf(batch.replace(positions=x)), batch.positions)
    d, x = acsf.derivatives(atoms, centers=[1, 3])  # (centres, atoms, 3, F), (centres, F)
    np.testing.assert_allclose(d, jac.permute(0, 2, 3, 1).numpy()[[1, 3]], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x, acsf.create(atoms, centers=[1, 3]), rtol=1e-13, atol=1e-14)


def test_float32_and_device_follow_the_batch():
    acsf = ACSF(species=["H", "C", "O"], r_cut=4.0, **INTEGER_ZETA)
    batch = atoms_to_batch(molecule("CH3OH"), dtype=torch.float32)
    x32 = acsf(batch)
    assert x32.dtype == torch.float32
    np.testing.assert_allclose(x32.numpy(), acsf.create(molecule("CH3OH")), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu():
    acsf = ACSF(species=["Si"], r_cut=5.0, periodic=True, **INTEGER_ZETA)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=8)
    cpu = acsf(atoms_to_batch(atoms))
    gpu = acsf.to("cuda")(atoms_to_batch(atoms, device="cuda"))
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-12, atol=1e-12)


def test_unknown_species_error_names_the_element():
    acsf = ACSF(species=["C", "H"], r_cut=4.0)
    with pytest.raises(ValueError, match="species 'O' not among this descriptor's species"):
        acsf.create(molecule("CH3OH"))
    with pytest.raises(ValueError, match="'O'"):
        acsf(atoms_to_batch(molecule("H2O")))


@pytest.mark.parametrize("kwargs, message", [
    (dict(g2_params=[]), "g2_params is empty"),
    (dict(g2_params=[1.0, 0.0]), "rows of \\[eta, R_s\\]"),
    (dict(g3_params=[[1.0]]), "1-D list of kappa"),
    (dict(g4_params=[[0.1, 1.0]]), "rows of \\[eta, zeta, lambda\\]"),
    (dict(g5_params=np.zeros((0, 3))), "g5_params is empty"),
    (dict(g4_params=[[0.1, "a", 1]]), "must be rows"),
    (dict(g2_params=[[np.nan, 1.0]]), "NaN or inf"),
    (dict(g4_params=[[0.1, 1.5, 2.0]]), "non-integer zeta"),
    (dict(r_cut=0.0), "r_cut must be a positive"),
    (dict(species=[]), "non-empty list"),
    (dict(species=["Xx"]), "unknown element symbol"),
])
def test_bad_parameters_give_clear_errors(kwargs, message):
    args = dict(species=["H"], r_cut=4.0) | kwargs
    with pytest.raises(ValueError, match=message):
        ACSF(**args)


def test_bad_centers_give_clear_errors():
    acsf = ACSF(species=["H", "O"], r_cut=4.0)
    with pytest.raises(ValueError, match="outside 0..2"):
        acsf.create(molecule("H2O"), centers=[3])
    with pytest.raises(ValueError, match="one list per system"):
        acsf.create([molecule("H2O")] * 2, centers=[[0]])


def test_is_a_descriptor_module():
    acsf = ACSF(species=["H"], r_cut=3.0, g2_params=[[1, 0]])
    assert isinstance(acsf, Descriptor) and isinstance(acsf, torch.nn.Module)
    assert "r_cut=3.0" in repr(acsf)


def test_triangles_in_chunks_give_the_same_features(rng, monkeypatch):
    import minnp.descriptors.acsf as acsf_module

    structures = [random_cell_structure(rng, 6, scale=4.0, symbols="CHOCHO"), molecule("C6H6")]
    for params in (PARAMETER_SETS["all_five"], PARAMETER_SETS["g4_only"]):
        acsf = ACSF(species=["H", "C", "O"], r_cut=5.0, periodic=True, **params)
        batch = atoms_to_batch(structures)
        whole = acsf(batch)
        monkeypatch.setattr(acsf_module, "TRIANGLES_PER_CHUNK", 50)
        from minnp.descriptors.acsf import _chunk_sizes
        assert len(_chunk_sizes(batch.neighbors(5.0).i, 18, 50)) > 10
        np.testing.assert_allclose(acsf(batch).numpy(), whole.numpy(), rtol=1e-13, atol=1e-13)
        d_chunked = acsf.derivatives(structures[0], return_descriptor=False)
        monkeypatch.undo()
        np.testing.assert_allclose(d_chunked, acsf.derivatives(structures[0], return_descriptor=False),
                                   rtol=1e-12, atol=1e-13)


def test_atoms_without_neighbours_have_zero_features_and_derivatives():
    atoms = Atoms("HO", positions=[[0, 0, 0], [6, 0, 0]])
    params = dict(species=["H", "O"], r_cut=3.0, **INTEGER_ZETA)
    ours = ACSF(**params)
    assert_zero = np.testing.assert_array_equal
    assert_zero(ours.create(atoms), DScribeACSF(**params).create(atoms))
    assert_zero(ours.create(atoms), 0.0)
    assert_zero(ours.derivatives(atoms, return_descriptor=False), 0.0)


# ---- the pair Jacobian, DScribe's derivatives and their input checks ------------------------------


def test_pair_jacobian_agrees_with_the_general_route_to_1e_12(rng):
    atoms = random_cell_structure(rng, 6, scale=3.5, symbols="CHONCH")
    acsf = ACSF(species=["H", "C", "N", "O"], r_cut=4.0, periodic=True, **PARAMETER_SETS["all_five"])
    batch = atoms_to_batch(atoms)
    G, nbrs, J = acsf.pair_jacobian(batch)
    G_ref, nbrs_ref, J_ref = Descriptor.pair_jacobian(acsf, batch)  # one backward pass per feature
    assert J.shape == (len(nbrs), acsf.get_number_of_features(), 3) and torch.equal(nbrs.i, nbrs_ref.i)
    assert (G - G_ref).abs().max() <= 1e-12 * G_ref.abs().max()
    assert (J - J_ref).abs().max() <= 1e-12 * J_ref.abs().max()
    np.testing.assert_allclose(G.numpy(), acsf(batch).numpy(), rtol=1e-13, atol=1e-14)


def test_pair_jacobian_matches_finite_differences_of_the_pair_vectors(rng):
    atoms = random_cell_structure(rng, 4, scale=3.0, symbols="CHOH")
    acsf = ACSF(species=["H", "C", "O"], r_cut=3.5, periodic=True, **PARAMETER_SETS["all_five"])
    batch = atoms_to_batch(atoms)
    pairs = rng.choice(len(batch.neighbors(acsf.cutoff)), 5, replace=False)
    assert pair_jacobian_error(acsf, batch, pairs) <= 1e-7


def test_derivatives_are_the_pair_jacobian_put_on_the_atoms(rng):
    atoms = random_cell_structure(rng, 5, scale=3.5, symbols="CHOCH")
    atoms.wrap()  # inside the cell DScribe's images are all images: the same pairs
    acsf = ACSF(species=["H", "C", "O"], r_cut=4.0, periodic=True, **INTEGER_ZETA)
    G, nbrs, J = acsf.pair_jacobian(atoms_to_batch(atoms))
    on_atoms = jacobian_on_atoms(J, nbrs.i, nbrs.j, nbrs.i, len(atoms), len(atoms))
    d, x = acsf.derivatives(atoms)
    np.testing.assert_allclose(d, on_atoms.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x, G.numpy(), rtol=1e-13, atol=1e-14)


def test_derivatives_of_lists_with_include_and_exclude_match_dscribe():
    params = dict(species=["H", "C", "O"], r_cut=4.0, g2_params=[[1.0, 0.0]], g4_params=[[0.01, 1, 1]])
    systems = [molecule("CH3OH"), molecule("H2O")]
    for a in systems:
        a.rattle(0.05, seed=2)
    ours, ref = ACSF(**params), DScribeACSF(**params)
    cases = (dict(include=[0]), dict(exclude=[1]), dict(centers=[[0, 2], [1]]),
             dict(centers=[[1], [0]], include=[1, 0]))
    for kw in cases:
        d_ours, x_ours = ours.derivatives(systems, attach=True, **kw)
        d_ref, x_ref = ref.derivatives(systems, attach=True, **kw)
        assert type(d_ours) is type(d_ref)  # stacked array, or a list when the shapes differ
        for got, want in zip(d_ours, d_ref):
            assert got.shape == want.shape
            assert np.abs(got - want).max() <= 1e-6 * max(1.0, np.abs(want).max())
        for got, want in zip(x_ours, x_ref):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(include=[]), "include is empty.*leave include out"),
    (dict(include=[-1]), "include has an index outside 0..5.*negative indices"),
    (dict(exclude=[-1]), "exclude has an index outside 0..5.*negative indices"),
    (dict(include=[9]), "include has an index outside"),
    (dict(include=[0], exclude=[1]), "either include or exclude, not both"),
    (dict(attach=False), "attach=True"),
])
def test_bad_derivative_arguments_raise_where_dscribe_raises(kwargs, message):
    params = dict(species=["H", "C", "O"], r_cut=4.0, g2_params=[[1.0, 0.0]])
    atoms = molecule("CH3OH")
    with pytest.raises(ValueError):
        DScribeACSF(**params).derivatives(atoms, **{"attach": True, **kwargs})
    with pytest.raises(ValueError, match=message):
        ACSF(**params).derivatives(atoms, **kwargs)


# ---- config: a checkpoint rebuilds the same descriptor ---------------------------------------------


@pytest.mark.parametrize("name", PARAMETER_SETS)
@pytest.mark.parametrize("periodic", [False, True])
def test_config_rebuilds_a_descriptor_with_identical_features(rng, name, periodic):
    acsf = ACSF(species=["H", "C", "N", "O"], r_cut=4.0, periodic=periodic, **PARAMETER_SETS[name])
    config = acsf.config()
    assert _plain_python(config), config
    rebuilt = from_config("ACSF", config)
    assert type(rebuilt) is ACSF and rebuilt.config() == config
    atoms = random_cell_structure(rng, 6, symbols="CHONCH")
    np.testing.assert_array_equal(rebuilt.create(atoms), acsf.create(atoms))


def _plain_python(value) -> bool:
    """Only lists, dicts with str keys, numbers, strings, bools and None (weights-only torch.load)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_python(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_python(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def test_from_config_accepts_only_minnp_descriptor_classes():
    for name in ("Batch", "Module", "os.system", "Descriptor"):
        with pytest.raises(ValueError, match="only minnp's descriptors.*ACSF.*SOAP"):
            from_config(name, {})

    class Outside(ACSF):  # defined outside minnp: never rebuilt from a checkpoint
        pass

    with pytest.raises(ValueError, match="unknown descriptor class 'Outside'"):
        from_config("Outside", ACSF(["H"], r_cut=3.0).config())
    assert isinstance(from_config("SOAP", SOAP(["H"], r_cut=3.0, n_max=2, l_max=1).config()), SOAP)


# ---- two cutoffs (ANI's): angular terms within r_cut_angular, from the one pair list --------------

TWO_CUTOFFS = dict(g2_params=[[0.5, 1.0], [0.05, 3.0]], g3_params=[1.3],
                   g4_params=[[0.01, 1.0, 1.0], [0.1, 2.5, -1.0]], g5_params=[[0.02, 2.0, -1.0], [0.3, 1.7, 1.0]])


def _two_cutoff_pair(r_cut=5.0, r_cut_angular=3.2, **params):
    """The two-cutoff ACSF and two one-cutoff ACSFs (radial to r_cut, angular to r_cut_angular)."""
    params = dict(species=["H", "C", "O"], periodic=True, **(params or TWO_CUTOFFS))
    return (ACSF(r_cut=r_cut, r_cut_angular=r_cut_angular, **params), ACSF(r_cut=r_cut, **params),
            ACSF(r_cut=r_cut_angular, **params))


@pytest.mark.parametrize("params", [TWO_CUTOFFS, PARAMETER_SETS["g4_only"]], ids=["all_five", "g4_only"])
def test_angular_columns_equal_a_separate_acsf_at_the_angular_cutoff(rng, params):
    ours, whole, short = _two_cutoff_pair(**params)
    structures = [random_cell_structure(rng, 7, scale=4.0, symbols="CHOCHOH"), molecule("CH3OH")]
    for atoms in structures:
        atoms.pbc = atoms.pbc if atoms.cell.rank == 3 else False
    batch = atoms_to_batch(structures)  # forward: every image (create would keep DScribe's block of
    # images, which depends on the cutoff, for atoms outside the cell)
    got, radial, angular = (d(batch).numpy() for d in (ours, whole, short))
    split = ours.n_radial * ours.n_species
    np.testing.assert_array_equal(got[:, :split], radial[:, :split])  # the radial columns unchanged
    assert np.abs(got[:, split:] - angular[:, split:]).max() <= 1e-12 * np.abs(angular).max()
    assert np.abs(got[:, split:] - radial[:, split:]).max() > 1e-3, "the angular cutoff changed nothing"


def test_two_cutoff_forces_match_finite_differences_and_the_pair_jacobian(rng):
    ours, _, _ = _two_cutoff_pair(r_cut=3.5, r_cut_angular=2.6)
    batch = atoms_to_batch(random_cell_structure(rng, 4, scale=3.0, symbols="CHOH"))
    assert _gradcheck_positions_and_cell(ours, batch, rng)
    G, nbrs, J = ours.pair_jacobian(batch)
    G_ref, _, J_ref = Descriptor.pair_jacobian(ours, batch)  # one backward pass per feature
    assert (G - G_ref).abs().max() <= 1e-12 * G_ref.abs().max()
    assert (J - J_ref).abs().max() <= 1e-12 * J_ref.abs().max()
    close = nbrs.vectors(batch).norm(dim=1) < ours.r_cut_angular
    assert 0 < int(close.sum()) < len(nbrs), "some pairs lie between the two cutoffs"


def test_two_cutoffs_in_config_names_repr_and_a_checkpoint_round_trip(tmp_path, rng):
    from minnp.models import HDNNP

    ours, whole, _ = _two_cutoff_pair()
    config = ours.config()
    assert config["r_cut_angular"] == 3.2 and _plain_python(config)
    assert from_config("ACSF", config).config() == config
    assert "r_cut_angular=3.2" in repr(ours)
    names = ours.feature_names()
    split = ours.n_radial * ours.n_species
    assert names[:split] == whole.feature_names()[:split]
    assert all("r_cut=3.2" in name for name in names[split:]) and "r_cut=" not in whole.feature_names()[-1]
    model = HDNNP(ours, hidden=(4,))
    model.save(tmp_path / "model.pt")
    loaded = HDNNP.load(tmp_path / "model.pt")
    assert loaded.descriptor.r_cut_angular == 3.2 and loaded.descriptor.config() == config
    batch = atoms_to_batch(random_cell_structure(rng, 6, scale=4.0, symbols="CHOCHO"))
    torch.testing.assert_close(loaded.descriptor(batch), ours(batch), rtol=0, atol=0)


@pytest.mark.parametrize("r_cut_angular", [0.0, -1.0, 6.0, float("nan"), "3"])
def test_bad_angular_cutoff_gives_a_clear_error(r_cut_angular):
    with pytest.raises(ValueError, match="r_cut_angular must be a number of Å above 0 and at most r_cut = 5 Å"):
        ACSF(["H"], r_cut=5.0, g4_params=[[0.01, 1, 1]], r_cut_angular=r_cut_angular)


# ---- the radial fast path: half the pairs, added to both ends --------------------------------------


def test_radial_half_list_equals_the_readable_full_list_to_1e_12_with_gradients(rng, monkeypatch):
    structures = [random_cell_structure(rng, 5, scale=3.0, symbols="CHOCH"),  # images of an atom itself
                  random_cell_structure(rng, 6, scale=4.0, symbols="CHONCH", pbc=(True, False, True)),
                  molecule("CH3CH2OH")]
    acsf = ACSF(species=["H", "C", "N", "O"], r_cut=4.5, periodic=True, **PARAMETER_SETS["all_five"])
    batch = atoms_to_batch(structures)
    positions, cell = batch.positions.clone().requires_grad_(), batch.cell.clone().requires_grad_()
    moved = batch.replace(positions=positions, cell=cell)
    nbrs = acsf.neighbors(moved)
    assert bool((nbrs.i == nbrs.j).any()), "the small cell puts atoms' own images in the list"
    s = acsf.species_index(moved)
    r = nbrs.vectors(moved).norm(dim=1)
    readable = acsf.radial_table(nbrs, s, r)
    with monkeypatch.context() as patch:  # the fast path really runs: no fallback to the readable one
        patch.setattr(ACSF, "radial_table", lambda *args: pytest.fail("the symmetric list fell back"))
        fast = acsf.radial_table_half_list(nbrs, s, r)
    assert (fast - readable).abs().max() <= 1e-12 * readable.abs().max()
    weights = torch.tensor(rng.normal(size=fast.shape))
    grads = [torch.autograd.grad((table * weights).sum(), (positions, cell), retain_graph=True)
             for table in (fast, readable)]
    for got, want in zip(*grads):
        assert (got - want).abs().max() <= 1e-12 * want.abs().max()
    radial = acsf.n_radial * acsf.n_species
    torch.testing.assert_close(acsf(moved)[:, :radial], fast, rtol=0, atol=0)  # forward takes it


def test_radial_half_list_takes_the_readable_route_for_a_one_sided_list():
    acsf = ACSF(species=["H", "O"], r_cut=3.0, g2_params=[[0.5, 1.0]])
    batch = atoms_to_batch(molecule("H2O"))
    nbrs = acsf.neighbors(batch)
    one_sided = type(nbrs)(nbrs.i[:-1], nbrs.j[:-1], nbrs.shift[:-1], nbrs.r_cut)  # a pair without its reverse
    s, r = acsf.species_index(batch), one_sided.vectors(batch).norm(dim=1)
    torch.testing.assert_close(acsf.radial_table_half_list(one_sided, s, r), acsf.radial_table(one_sided, s, r),
                               rtol=0, atol=0)
