"""SOAP (minnp/descriptors/soap.py, harmonics.py) checked against DScribe live and finite differences."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import torch
from ase import Atoms
from ase.build import bulk, molecule
from conftest import peer

from minnp.batch import atoms_to_batch
from minnp.descriptors import Descriptor, from_config
from minnp.descriptors.base import jacobian_on_atoms
from minnp.descriptors import soap_basis
from minnp.descriptors.harmonics import real_solid_harmonics, real_solid_harmonics_gradient
from minnp.descriptors.properties import check_invariances, pair_jacobian_error
from minnp.descriptors.soap import SOAP, gto_basis


def DScribeSOAP(**kw):
    return peer("dscribe.descriptors").SOAP(**kw)


# ---- structures --------------------------------------------------------------------------------


def ethanol() -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=3)
    return atoms


def rocksalt() -> Atoms:
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    atoms.rattle(0.05, seed=0)
    return atoms


def triclinic(pbc=True) -> Atoms:
    rng = np.random.default_rng(0)
    cell = [[3.1, 0.0, 0.0], [0.9, 3.3, 0.0], [0.4, -0.7, 3.6]]  # smaller than the cutoff
    return Atoms("SiOCSi", scaled_positions=rng.random((4, 3)), cell=cell, pbc=pbc)


def outside_the_cell() -> Atoms:
    atoms = triclinic()
    atoms.positions[0] += [0.5, -0.4, 0.3]  # not wrapped back: DScribe's image block still finds it
    return atoms


STRUCTURES = {
    "cluster_3_species": (ethanol, ["H", "C", "O"], False),
    "rocksalt": (rocksalt, ["Na", "Cl"], True),
    "triclinic_small_cell": (triclinic, ["Si", "O", "C"], True),
    "mixed_pbc_TTF": (lambda: triclinic(pbc=[True, True, False]), ["Si", "O", "C"], True),
    "atom_outside_cell": (outside_the_cell, ["Si", "O", "C"], True),
}


def assert_parity(ref, got, atol=1e-8, rtol=1e-6):
    """≤ atol of the largest feature per structure, and rtol on features above 1e-6 of it."""
    ref, got = np.asarray(ref), np.asarray(got)
    assert ref.shape == got.shape
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= atol * scale, np.abs(got - ref).max() / scale
    big = np.abs(ref) > 1e-6 * scale
    np.testing.assert_allclose(got[big], ref[big], rtol=rtol)


def both(species, **kw):
    return DScribeSOAP(species=species, **kw), SOAP(species, **kw)


# ---- the pieces ----------------------------------------------------------------------------------


def test_real_solid_harmonics_match_scipy_up_to_l_20():
    torch.manual_seed(0)
    v = torch.randn(50, 3, dtype=torch.float64)
    Y = real_solid_harmonics(v[:, 0], v[:, 1], v[:, 2], 20).numpy()
    r = v.norm(dim=1).numpy()
    theta, phi = np.arccos(v[:, 2].numpy() / r), np.arctan2(v[:, 1].numpy(), v[:, 0].numpy())
    for l in range(21):
        for m in range(-l, l + 1):
            complex_y = scipy.special.sph_harm_y(l, abs(m), theta, phi) * (-1) ** abs(m)  # no Condon-Shortley
            ref = {1: math.sqrt(2) * complex_y.real, -1: math.sqrt(2) * complex_y.imag, 0: complex_y.real}
            np.testing.assert_allclose(Y[l * l + l + m] / r**l, ref[int(np.sign(m))], atol=1e-10)


def test_real_solid_harmonics_vanish_at_the_origin_except_l0():
    zero = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    Y = real_solid_harmonics(zero, zero, zero, 4)
    assert Y[0].item() == pytest.approx(0.5 / math.sqrt(math.pi))
    assert torch.all(Y[1:] == 0)
    (grad,) = torch.autograd.grad(Y.sum(), zero)
    assert torch.isfinite(grad).all()


def test_solid_harmonics_gradient_equals_autograd_up_to_l_20():
    torch.manual_seed(1)
    v = torch.randn(3, 40, dtype=torch.float64, requires_grad=True)
    Y = real_solid_harmonics(v[0], v[1], v[2], 20)  # ((l+1)², 40)
    grad = real_solid_harmonics_gradient(Y.detach(), 20)  # (3, (l+1)², 40)
    ref = torch.stack([torch.autograd.grad(row.sum(), v, retain_graph=True)[0] for row in Y], dim=1)
    for l in range(21):  # each degree on its own scale (r^l grows fast)
        rows = slice(l * l, (l + 1) ** 2)
        assert (grad[:, rows] - ref[:, rows]).abs().max() <= 1e-12 * max(ref[:, rows].abs().max(), 1.0)


@pytest.mark.parametrize("weighting", [{"function": "poly", "r0": 3.0, "c": 1.5, "m": 2},
                                       {"function": "poly", "r0": 3.0, "c": 1.0, "m": 3.5},
                                       {"function": "pow", "r0": 2.0, "c": 1.0, "d": 1.0, "m": 3, "w0": 0.5},
                                       {"function": "exp", "r0": 1.0, "c": 2.0, "d": 0.5}])
def test_density_weight_slopes_equal_autograd(weighting):
    r = torch.linspace(0.0, 4.0, 81, dtype=torch.float64, requires_grad=True)
    w = soap_basis.density_weights(r, soap_basis.check_weighting(weighting))
    (ref,) = torch.autograd.grad(w.sum(), r)
    slope = soap_basis.density_weights_slope(r.detach(), soap_basis.check_weighting(weighting))
    np.testing.assert_allclose(slope.numpy(), ref.numpy(), rtol=1e-12, atol=1e-14)


def test_gto_basis_is_dscribes_and_orthonormal():
    r_cut, n_max, l_max = 5.0, 8, 6
    alphas, betas = gto_basis(r_cut, n_max, l_max)
    ref = DScribeSOAP(species=["Si"], r_cut=r_cut, n_max=n_max, l_max=l_max)
    np.testing.assert_array_equal(alphas, ref._alphas)
    np.testing.assert_array_equal(betas, ref._betas)
    for l in (0, 3, 6):
        def g(r, n):
            return sum(betas[l, n, k] * r**l * np.exp(-alphas[l, k] * r * r) for k in range(n_max))
        overlap = [[scipy.integrate.quad(lambda r: g(r, a) * g(r, b) * r * r, 0, np.inf, limit=200)[0]
                    for b in range(n_max)] for a in range(n_max)]
        np.testing.assert_allclose(overlap, np.eye(n_max), atol=1e-5)


# ---- parity with DScribe -------------------------------------------------------------------------


@pytest.mark.parametrize("name", STRUCTURES)
def test_features_match_dscribe(name):
    make, species, periodic = STRUCTURES[name]
    atoms = make()
    for kw in (dict(r_cut=4.0, n_max=4, l_max=4, sigma=0.5), dict(r_cut=3.0, n_max=3, l_max=8, sigma=0.4)):
        ref, ours = both(species, periodic=periodic, **kw)
        assert_parity(ref.create(atoms), ours.create(atoms))
        assert ours.get_number_of_features() == ref.get_number_of_features()


def test_l_max_12_n_max_12_matches_dscribe():
    ref, ours = both(["H", "C", "O"], r_cut=6.0, n_max=12, l_max=12, sigma=0.7)
    assert_parity(ref.create(ethanol()), ours.create(ethanol()))
    ref, ours = both(["Na", "Cl"], r_cut=4.0, n_max=12, l_max=12, sigma=0.5, periodic=True)
    assert_parity(ref.create(rocksalt()), ours.create(rocksalt()))


@pytest.mark.parametrize("mode", ["off", "crossover", "mu2", "mu1nu1"])
@pytest.mark.parametrize("average", ["off", "inner", "outer"])
def test_every_compression_and_average_matches_dscribe(mode, average):
    weights = {"H": 0.5, "C": 2.0, "O": -1.0}
    for compression in ({"mode": mode}, {"mode": mode, "species_weighting": weights}):
        ref, ours = both(["H", "C", "O"], r_cut=4.0, n_max=4, l_max=4, sigma=0.5,
                         average=average, compression=compression)
        assert_parity(ref.create(ethanol()), ours.create(ethanol()))
    ref, ours = both(["Na", "Cl"], r_cut=3.5, n_max=3, l_max=3, sigma=0.5, periodic=True,
                     average=average, compression={"mode": mode})
    assert_parity(ref.create(rocksalt()), ours.create(rocksalt()))


@pytest.mark.parametrize("weighting", [
    {"function": "poly", "r0": 3.5, "c": 1.2, "m": 2},
    {"function": "pow", "r0": 2.0, "c": 1, "d": 1, "m": 3},
    {"function": "exp", "r0": 1.5, "c": 2, "d": 0.5},
    {"function": "pow", "r0": 2.0, "c": 1, "d": 1, "m": 3, "w0": 0.3},
    {"w0": 0.0},
])
def test_weighting_matches_dscribe(weighting):
    centres = [0, [0.1, 0.2, 0.3], 4]
    for r_cut in (4.0, None):
        if r_cut is None and "function" not in weighting:
            continue
        ref, ours = both(["H", "C", "O"], r_cut=r_cut, n_max=4, l_max=4, sigma=0.5, weighting=dict(weighting))
        assert ours.r_cut == pytest.approx(ref._r_cut)
        assert_parity(ref.create(ethanol()), ours.create(ethanol()))
        assert_parity(ref.create(ethanol(), centers=centres), ours.create(ethanol(), centers=centres))


def test_cartesian_and_index_centres_match_dscribe():
    atoms = ethanol()
    ref, ours = both(["H", "C", "O"], r_cut=4.0, n_max=4, l_max=4, sigma=0.5)
    for centres in ([2, 0, 5], [[0, 0, 0], [1.0, 0.5, -0.2]], [1, list(atoms.positions[3]), 4]):
        assert_parity(ref.create(atoms, centers=centres), ours.create(atoms, centers=centres))
    ref, ours = both(["Na", "Cl"], r_cut=4.0, n_max=4, l_max=4, sigma=0.5, periodic=True)
    centres = [[0.3, 0.2, 5.0], [-1.0, 2.0, 0.5]]  # one point outside the cell
    assert_parity(ref.create(rocksalt(), centers=centres), ours.create(rocksalt(), centers=centres))


def test_lists_of_structures_match_dscribe_shapes_and_values():
    systems = [molecule("H2O"), molecule("CH4"), molecule("CH3OH")]
    for average in ("off", "outer"):
        ref, ours = both(["H", "C", "O"], r_cut=4.0, n_max=3, l_max=3, sigma=0.5, average=average)
        expected, got = ref.create(systems), ours.create(systems)
        assert type(got) is type(expected)
        for e, g in zip(expected, got):
            assert_parity(e, g)
    same_size = [molecule("H2O"), molecule("H2O")]
    same_size[1].rattle(0.1, seed=1)
    assert_parity(ref.create(same_size, centers=[[0], [1]]), ours.create(same_size, centers=[[0], [1]]))


def assert_polynomial_parity(ref, got):
    """Tolerance for DScribe's numerically integrated basis: rtol 1e-6, atol 1e-9 of the largest feature."""
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9 * np.abs(ref).max())


def test_polynomial_basis_matches_dscribe():
    atoms = ethanol()
    for kw in (dict(r_cut=4.0, n_max=4, l_max=4, sigma=0.5), dict(r_cut=6.0, n_max=6, l_max=9, sigma=0.8),
               dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5, compression={"mode": "mu1nu1"}, average="inner")):
        ref, ours = both(["H", "C", "O"], rbf="polynomial", **kw)
        assert_polynomial_parity(ref.create(atoms), ours.create(atoms))
    centres = [0, [0.1, 0.2, 0.3], list(atoms.positions[4])]  # the last one sits on an atom
    assert_polynomial_parity(ref.create(atoms, centers=centres), ours.create(atoms, centers=centres))
    for name in ("rocksalt", "triclinic_small_cell"):
        make, species, periodic = STRUCTURES[name]
        ref, ours = both(species, rbf="polynomial", periodic=periodic, r_cut=4.0, n_max=4, l_max=6, sigma=0.4)
        assert_polynomial_parity(ref.create(make()), ours.create(make()))


def test_polynomial_basis_warns_where_dscribe_loses_precision():
    with pytest.warns(UserWarning, match="beyond l = 9"):
        SOAP(["H"], r_cut=4.0, n_max=4, l_max=10, rbf="polynomial")


# ---- derivatives -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "crossover"])
@pytest.mark.parametrize("attach", [False, True])
def test_derivatives_match_dscribe_analytical(mode, attach):
    ref, ours = both(["H", "C", "O"], r_cut=4.0, n_max=4, l_max=4, sigma=0.5, compression={"mode": mode})
    d_ref, x_ref = ref.derivatives(ethanol(), method="analytical", attach=attach)
    d, x = ours.derivatives(ethanol(), attach=attach)
    assert_parity(x_ref, x)
    assert np.abs(d - d_ref).max() <= 1e-8 * np.abs(d_ref).max()
    kw = dict(centers=[1, [0.1, 0.2, 0.3]], include=[0, 2, 5], attach=attach, return_descriptor=False)
    d_ref = ref.derivatives(ethanol(), method="analytical", **kw)
    assert np.abs(ours.derivatives(ethanol(), **kw) - d_ref).max() <= 1e-8 * np.abs(d_ref).max()


def finite_differences(soap: SOAP, atoms: Atoms, attach: bool, h: float = 1e-5) -> np.ndarray:
    """Central differences of soap.create, DScribe's derivative layout; centres fixed unless attach."""
    centres = None if attach else [list(p) for p in atoms.positions]
    out = []
    for i in range(len(atoms)):
        for a in range(3):
            values = []
            for step in (h, -h):
                moved = atoms.copy()
                moved.positions[i, a] += step
                values.append(soap.create(moved, centers=centres))
            out.append((values[0] - values[1]) / (2 * h))
    d = np.array(out).reshape((len(atoms), 3) + out[0].shape)  # (atoms, 3, [centres,] F)
    if d.ndim == 3:  # averaged: one "centre"
        d = d[:, :, None]
    return d.transpose(2, 0, 1, 3)  # (centres, atoms, 3, F)


@pytest.mark.parametrize("case", ["periodic", "inner", "outer", "mu2", "mu1nu1", "weighting"])
def test_derivatives_match_finite_differences_everywhere(case):
    options = {"periodic": dict(periodic=True), "inner": dict(average="inner"),
               "outer": dict(average="outer"), "mu2": dict(compression={"mode": "mu2"}),
               "mu1nu1": dict(compression={"mode": "mu1nu1"}),
               "weighting": dict(weighting={"function": "poly", "r0": 3.0, "c": 1, "m": 2})}[case]
    atoms, species = (rocksalt(), ["Na", "Cl"]) if case == "periodic" else (molecule("H2O"), ["H", "O"])
    atoms.rattle(0.05, seed=4)
    soap = SOAP(species, r_cut=3.0, n_max=3, l_max=3, sigma=0.5, **options)
    for attach in (False, True):
        d = soap.derivatives(atoms, attach=attach, return_descriptor=False)
        fd = finite_differences(soap, atoms, attach)
        assert np.abs(d - fd).max() <= 1e-6 * np.abs(fd).max()
    ref = DScribeSOAP(species=species, r_cut=3.0, n_max=3, l_max=3, sigma=0.5, **options)
    d_ref = ref.derivatives(atoms, method="numerical", return_descriptor=False)
    d = soap.derivatives(atoms, return_descriptor=False)
    assert np.abs(d - d_ref).max() <= 1e-6 * np.abs(d_ref).max()


def test_polynomial_derivatives_match_dscribe_and_finite_differences():
    kw = dict(r_cut=3.0, n_max=3, l_max=3, sigma=0.5, rbf="polynomial")
    ref, ours = both(["H", "O"], **kw)
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=4)
    d = ours.derivatives(atoms, attach=True, return_descriptor=False)
    d_ref = ref.derivatives(atoms, method="numerical", attach=True, return_descriptor=False)
    assert np.abs(d - d_ref).max() <= 1e-6 * np.abs(d_ref).max()
    fd = finite_differences(ours, atoms, attach=True)
    assert np.abs(d - fd).max() <= 1e-6 * np.abs(fd).max()
    with pytest.raises(ValueError, match="attach=True or rbf='gto'"):
        ours.derivatives(atoms, attach=False)


def test_forward_is_differentiable_in_positions_and_cell():
    soap = SOAP(["Na", "Cl"], r_cut=3.0, n_max=3, l_max=3, sigma=0.5, periodic=True)
    other = rocksalt()
    other.rattle(0.1, seed=5)
    batch = atoms_to_batch([rocksalt(), other])
    w = torch.randn(soap.get_number_of_features(), dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0))

    def energy(positions, cell):
        return (soap(batch.replace(positions=positions, cell=cell)) @ w).sum()

    inputs = (batch.positions.clone().requires_grad_(), batch.cell.clone().requires_grad_())
    assert torch.autograd.gradcheck(energy, inputs)


def test_jacobian_equals_reverse_mode_autograd():
    soap = SOAP(["H", "O"], r_cut=3.0, n_max=3, l_max=3, sigma=0.5)
    atoms = molecule("H2O")
    batch = atoms_to_batch(atoms)
    full = torch.autograd.functional.jacobian(lambda p: soap(batch.replace(positions=p)), batch.positions)
    d = soap.derivatives(atoms, attach=True, return_descriptor=False)  # (centres, atoms, 3, F)
    np.testing.assert_allclose(d, full.permute(0, 2, 3, 1).numpy(), atol=1e-12)


# ---- the torch path and properties ----------------------------------------------------------------


def test_forward_on_a_batch_equals_create_per_structure():
    soap = SOAP(["Si", "O", "C"], r_cut=3.0, n_max=3, l_max=3, sigma=0.4, periodic=True)
    structures = [triclinic(), triclinic(pbc=[True, True, False])]
    x = soap(atoms_to_batch(structures)).detach().numpy()
    np.testing.assert_allclose(x[:4], soap.create(structures[0]), atol=1e-14)
    np.testing.assert_allclose(x[4:], soap.create(structures[1]), atol=1e-14)
    averaged = SOAP(["Si", "O", "C"], r_cut=3.0, n_max=3, l_max=3, sigma=0.4, periodic=True, average="inner")
    assert averaged(atoms_to_batch(structures)).shape == (2, averaged.get_number_of_features())


def test_features_are_invariant_under_rotation_translation_and_permutation():
    soap = SOAP(["H", "C", "O"], r_cut=4.0, n_max=4, l_max=6, sigma=0.5)
    check_invariances(soap.create, ethanol(), tol=1e-11)


def test_periodic_features_are_invariant_under_every_property_and_supercell():
    soap = SOAP(["Na", "Cl"], r_cut=3.0, n_max=3, l_max=4, sigma=0.5, periodic=True)
    atoms = rocksalt()
    atoms.rattle(0.1, seed=7)
    check_invariances(lambda a: soap(atoms_to_batch(a)).numpy(), atoms, tol=1e-10)


def test_runs_in_float32():
    soap = SOAP(["Na", "Cl"], r_cut=3.0, n_max=3, l_max=3, sigma=0.5, periodic=True)
    x32 = soap(atoms_to_batch(rocksalt(), dtype=torch.float32))
    assert x32.dtype == torch.float32
    x64 = soap.create(rocksalt())
    np.testing.assert_allclose(x32.numpy(), x64, rtol=1e-4, atol=1e-5 * np.abs(x64).max())


def test_feature_names_follow_the_layout():
    soap = SOAP(["H", "O"], r_cut=3.0, n_max=2, l_max=1)
    names = soap.feature_names()
    assert len(names) == soap.get_number_of_features() == 20
    assert names[:4] == ["H-H l=0 n=0 n'=0", "H-H l=0 n=0 n'=1", "H-H l=0 n=1 n'=1", "H-H l=1 n=0 n'=0"]
    assert names[6] == "H-O l=0 n=0 n'=0"
    mu2 = SOAP(["H", "O"], r_cut=3.0, n_max=2, l_max=1, compression={"mode": "mu2"})
    assert mu2.feature_names()[0] == "*-* l=0 n=0 n'=0"


@pytest.mark.parametrize("kwargs, message", [
    (dict(sigma=0.0), "sigma must be positive"),
    (dict(l_max=21), "l_max must be an integer in 0..20"),
    (dict(n_max=0), "n_max must be a positive integer"),
    (dict(r_cut=0.9), "larger than 1 Å"),
    (dict(average="mean"), "average must be"),
    (dict(compression={"mode": "mu3"}), "compression mode 'mu3' unknown"),
    (dict(weighting={"function": "gauss", "r0": 1, "c": 1}), "weighting function 'gauss' unknown"),
    (dict(weighting={"function": "poly", "c": 1, "m": 2}), "needs r0 > 0"),
    (dict(compression={"mode": "mu2", "species_weighting": {"H": 1.0}}), "one weight per species"),
    (dict(rbf="spline"), "rbf must be 'gto' or 'polynomial'"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    options = dict(r_cut=3.0, n_max=2, l_max=2) | kwargs
    with pytest.raises(ValueError, match=message):
        SOAP(["H", "O"], **options)


def test_unknown_species_names_the_element():
    with pytest.raises(ValueError, match="species 'C' not among"):
        SOAP(["H", "O"], r_cut=3.0, n_max=2, l_max=2).create(molecule("CH4"))


# ---- the pair Jacobian, DScribe's input checks, config -------------------------------------------


@pytest.mark.parametrize("options", [dict(), dict(compression={"mode": "mu1nu1"}), dict(average="inner"),
                                     dict(average="outer", periodic=True),
                                     dict(weighting={"function": "poly", "r0": 3.0, "c": 1, "m": 2})])
def test_pair_jacobian_agrees_with_the_general_route_to_1e_12(options):
    options = {"periodic": False} | options
    soap = SOAP(["Na", "Cl"], r_cut=3.0, n_max=3, l_max=3, sigma=0.5, **options)
    cluster = Atoms("NaClNa", [[0, 0, 0], [2.1, 0.3, 0], [0.4, 2.5, 0.7]])
    structures = [rocksalt(), rocksalt()] if options["periodic"] else [cluster]
    structures[-1].rattle(0.1, seed=8)
    batch = atoms_to_batch(structures)
    G, nbrs, J = soap.pair_jacobian(batch)
    G_ref, _, J_ref = Descriptor.pair_jacobian(soap, batch)  # one backward pass per feature
    assert J.shape == (len(nbrs), soap.get_number_of_features(), 3)
    assert (G - G_ref).abs().max() <= 1e-12 * G_ref.abs().max()
    assert (J - J_ref).abs().max() <= 1e-12 * J_ref.abs().max()


def autograd_environment_jacobian(soap: SOAP, env, n_structures: int) -> torch.Tensor:
    """The reference: ∂p/∂r_p by reverse-mode autograd through the features, one pass per column."""
    vectors = env.vectors.detach().clone().requires_grad_()
    p = soap.soap(dataclasses.replace(env, vectors=vectors), n_structures)  # (C or B, F)
    return torch.stack([torch.autograd.grad(p[:, f].sum(), vectors, retain_graph=True)[0]
                        for f in range(p.shape[1])], dim=1)  # (P, F, 3)


JACOBIAN_OPTIONS = {
    "plain": dict(), "crossover": dict(compression={"mode": "crossover"}),
    "mu2": dict(compression={"mode": "mu2"}),
    "mu1nu1_species_weighting": dict(compression={"mode": "mu1nu1",
                                                   "species_weighting": {"H": 0.5, "C": 1.0, "O": 2.0,
                                                                         "Na": 0.7, "Cl": 1.3}}),
    "inner": dict(average="inner"), "outer": dict(average="outer"),
    "poly_weighting": dict(weighting={"function": "poly", "r0": 3.0, "c": 1, "m": 2}),
    "pow_weighting_w0": dict(weighting={"function": "pow", "r0": 2.0, "c": 1, "d": 1, "m": 2, "w0": 0.3}),
    "exp_weighting": dict(weighting={"function": "exp", "r0": 1.0, "c": 2, "d": 0.5}),
    "polynomial_basis": dict(rbf="polynomial"),
}


@pytest.mark.parametrize("option", list(JACOBIAN_OPTIONS))
@pytest.mark.parametrize("system", ["cluster_3_species", "periodic_2_species"])
def test_analytic_jacobian_equals_autograd_to_1e_12(system, option):
    """The analytic environment Jacobian (product rule, harmonic gradients) against autograd."""
    make, species, periodic = {"cluster_3_species": (ethanol, ["H", "C", "O"], False),
                               "periodic_2_species": (rocksalt, ["Na", "Cl"], True)}[system]
    kw = JACOBIAN_OPTIONS[option]
    if "compression" in kw and "species_weighting" in kw["compression"]:
        weights = {k: v for k, v in kw["compression"]["species_weighting"].items() if k in species}
        kw = dict(kw, compression=dict(kw["compression"], species_weighting=weights))
    soap = SOAP(species, r_cut=3.0, n_max=3, l_max=3, sigma=0.5, periodic=periodic, **kw)
    batch = atoms_to_batch(make())
    env, _ = soap.dscribe_environments(batch, [None], attach=True)
    J = soap.environment_jacobian(env, 1)
    J_ref = autograd_environment_jacobian(soap, env, 1)
    assert J.shape == J_ref.shape == (len(env.centre), soap.get_number_of_features(), 3)
    # DScribe's upward recursion for the polynomial basis amplifies rounding at small r: there
    # forward- and reverse-mode autograd differ from each other by 1e-12 of the largest entry
    tol = 1e-11 if option == "polynomial_basis" else 1e-12
    assert (J - J_ref).abs().max() <= tol * J_ref.abs().max()


@pytest.mark.parametrize("option", ["plain", "pow_weighting_w0", "inner"])
def test_analytic_jacobian_with_fixed_centres_on_atoms_equals_autograd(option):
    """attach=False: points on atoms (a neighbour at r = 0) and off them."""
    soap = SOAP(["H", "C", "O"], r_cut=3.0, n_max=3, l_max=3, sigma=0.5, **JACOBIAN_OPTIONS[option])
    atoms = ethanol()
    batch = atoms_to_batch(atoms)
    env, _ = soap.dscribe_environments(batch, [[0, 3, [0.1, 0.2, 0.3]]], attach=False)
    assert bool(((env.vectors**2).sum(1) == 0).any())  # the case to prove
    J, J_ref = soap.environment_jacobian(env, 1), autograd_environment_jacobian(soap, env, 1)
    assert torch.isfinite(J).all()
    assert (J - J_ref).abs().max() <= 1e-12 * J_ref.abs().max()


def test_analytic_jacobian_with_centres_out_of_order_equals_autograd():
    """Centres given as [5, 0, 2]: the pairs are not grouped by centre and must be put back."""
    soap = SOAP(["H", "C", "O"], r_cut=3.0, n_max=3, l_max=3, sigma=0.5)
    env, _ = soap.dscribe_environments(atoms_to_batch(ethanol()), [[5, 0, 2]], attach=True)
    assert bool((env.centre[1:] < env.centre[:-1]).any())  # the case to prove
    J, J_ref = soap.environment_jacobian(env, 1), autograd_environment_jacobian(soap, env, 1)
    assert torch.isfinite(J).all()
    assert (J - J_ref).abs().max() <= 1e-12 * J_ref.abs().max()


def test_first_derivatives_call_loads_no_compiler():
    """The Jacobian is plain torch: no torch.func / torch._dynamo import (seconds on a first call)."""
    code = ("import sys; from ase.build import molecule; from minnp.descriptors import SOAP; "
            "SOAP(['H', 'O'], r_cut=3.0, n_max=2, l_max=2).derivatives(molecule('H2O')); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pair_jacobian_matches_finite_differences_and_derivatives():
    soap = SOAP(["H", "C", "O"], r_cut=3.0, n_max=3, l_max=3, sigma=0.5)
    atoms = ethanol()
    batch = atoms_to_batch(atoms)
    G, nbrs, J = soap.pair_jacobian(batch)
    assert pair_jacobian_error(soap, batch, (0, len(nbrs) // 2, len(nbrs) - 1)) <= 1e-7
    d, x = soap.derivatives(atoms, attach=True)
    on_atoms = jacobian_on_atoms(J, nbrs.i, nbrs.j, nbrs.i, len(atoms), len(atoms))
    np.testing.assert_allclose(d, on_atoms.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x, G.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("kwargs, message", [
    (dict(include=[]), "include is empty.*leave include out"),
    (dict(include=[-1]), "include has an index outside 0..8.*negative indices"),
    (dict(exclude=[-1]), "exclude has an index outside 0..8.*negative indices"),
    (dict(exclude=[9]), "exclude has an index outside"),
    (dict(include=[0], exclude=[1]), "either include or exclude, not both"),
])
def test_bad_derivative_arguments_raise_where_dscribe_raises(kwargs, message):
    ref, ours = both(["H", "C", "O"], r_cut=3.0, n_max=2, l_max=1)
    with pytest.raises(ValueError):
        ref.derivatives(ethanol(), **kwargs)
    with pytest.raises(ValueError, match=message):
        ours.derivatives(ethanol(), **kwargs)
    with pytest.raises(ValueError, match=message):  # in a list of systems too
        ours.derivatives([ethanol(), ethanol()], **kwargs)


def test_arguments_dscribe_accepts_but_minnp_would_ignore_are_refused():
    soap = SOAP(["H", "C", "O"], r_cut=3.0, n_max=2, l_max=1)
    with pytest.raises(TypeError, match="n_jobs"):
        soap.create(ethanol(), n_jobs=2)
    with pytest.raises(TypeError, match="method"):
        soap.derivatives(ethanol(), method="numerical")


@pytest.mark.parametrize("options", [
    dict(), dict(compression={"mode": "crossover"}), dict(compression={"mode": "mu2"}),
    dict(compression={"mode": "mu1nu1", "species_weighting": {"H": 0.5, "C": 1.0, 8: 2.0}}),
    dict(average="inner", periodic=True), dict(average="outer"), dict(rbf="polynomial"),
    dict(weighting={"function": "pow", "r0": 2.0, "c": 1, "d": 1, "m": 2, "w0": 0.5}, r_cut=None),
    dict(weighting={"function": "exp", "r0": 1.0, "c": 2, "d": 0.5}),
])
def test_config_rebuilds_a_soap_with_identical_features(options):
    kw = dict(r_cut=3.0, n_max=3, l_max=3, sigma=0.5) | options
    soap = SOAP(["H", "C", "O"], **kw)
    config = soap.config()
    rebuilt = from_config("SOAP", config)
    assert rebuilt.config() == config
    structures = [ethanol(), molecule("CH4")]
    np.testing.assert_array_equal(np.concatenate(rebuilt.create(structures)),
                                  np.concatenate(soap.create(structures)))
