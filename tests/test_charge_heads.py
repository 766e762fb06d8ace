"""Charge heads on per-atom features (minnp/models/charge_heads.py) and the radial bases (radial.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from minnp import atoms_to_batch
from minnp.electrostatics import coulomb_energies, qeq_charges
from minnp.models.charge_heads import DirectCharges, QeqCharges, TotalChargeEmbedding
from minnp.models.radial import RadialBasis, bessel_basis, gaussian_basis, polynomial_envelope


def structures(rng):
    cluster = Atoms("Na3Cl2", positions=[[0, 0, 0], [2.6, 0, 0], [0, 2.7, 0], [2.5, 2.6, 0.4], [1.2, 1.3, 2.4]])
    cluster.info["charge"] = 1.0
    crystal = bulk("NaCl", "rocksalt", a=5.5).repeat((2, 1, 1))
    crystal.positions += rng.normal(0, 0.1, crystal.positions.shape)
    anion = Atoms("NaCl2", positions=[[0, 0, 0], [2.4, 0, 0], [-2.5, 0.3, 0]])
    anion.info["charge"] = -1.0
    return [cluster, crystal, anion]


def features(batch, n=6, seed=0):
    return torch.randn(len(batch.numbers), n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("head", [DirectCharges(["Na", "Cl"], 6), QeqCharges(["Na", "Cl"], 6)])
def test_conserving_heads_give_the_total_charge_to_1e_12(rng, head):
    batch = atoms_to_batch(structures(rng))
    q, _ = head(features(batch), batch)
    sums = torch.zeros(3, dtype=q.dtype).index_add_(0, batch.structure, q.detach())
    np.testing.assert_allclose(sums.numpy(), [1.0, 0.0, -1.0], rtol=0, atol=1e-12)


def test_free_direct_charges_do_not_add_up(rng):
    batch = atoms_to_batch(structures(rng))
    q, _ = DirectCharges(["Na", "Cl"], 6, conserve=False)(features(batch), batch)
    assert abs(q[:5].sum().item() - 1.0) > 1e-3


@pytest.mark.parametrize("head", [DirectCharges(["Na", "Cl"], 6), QeqCharges(["Na", "Cl"], 6)])
def test_electrostatic_energy_is_the_coulomb_energy_of_the_gaussian_charges(rng, head):
    """Clusters by the direct sum, the crystal by Ewald: minnp.electrostatics computed independently."""
    batch = atoms_to_batch(structures(rng))
    q, e = head(features(batch), batch)
    s = (batch.numbers == 17).long()  # Na -> 0, Cl -> 1
    expected = coulomb_energies(batch, q.detach(), sigma=head.sigma[s])
    np.testing.assert_allclose(e.detach().numpy(), expected.numpy(), rtol=1e-9, atol=1e-10)


def test_qeq_head_is_charge_equilibration_with_the_networks_chi_and_its_hardness(rng):
    head = QeqCharges(["Na", "Cl"], 6, hardness=4.0)
    batch = atoms_to_batch(structures(rng))
    h = features(batch)
    q, _ = head(h, batch)
    s = (batch.numbers == 17).long()
    chi = head.networks(h, s)
    expected = qeq_charges(batch, chi, head.hardness[s], head.sigma[s])
    np.testing.assert_allclose(q.detach().numpy(), expected.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(head.hardness.detach().numpy(), [4.0, 4.0])


def test_gradients_flow_through_the_solve_into_chi_and_hardness(rng):
    head = QeqCharges(["Na", "Cl"], 6)
    batch = atoms_to_batch(structures(rng))
    q, e = head(features(batch), batch)
    (q[0] + e.sum()).backward()
    assert head.hardness_parameter.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.networks.parameters())


def test_total_charge_embedding_adds_q_times_a_learned_vector(rng):
    embed = TotalChargeEmbedding(6)
    batch = atoms_to_batch(structures(rng))
    h = features(batch)
    out = embed(h, batch)
    np.testing.assert_allclose((out - h)[:5].detach().numpy(), np.tile(embed.weight.detach().numpy(), (5, 1)))
    np.testing.assert_allclose((out - h)[5:9].detach().numpy(), 0.0)


def test_float32_heads(rng):
    batch = atoms_to_batch(structures(rng), dtype=torch.float32)
    head = QeqCharges(["Na", "Cl"], 6, dtype=torch.float32)
    q, e = head(features(batch).float(), batch)
    assert q.dtype == e.dtype == torch.float32
    assert abs(q[:5].sum().item() - 1.0) < 1e-5


def test_heads_reject_bad_input_clearly(rng):
    batch = atoms_to_batch(structures(rng))
    with pytest.raises(ValueError, match=r"shape \(n_atoms, n_features\)"):
        QeqCharges(["Na", "Cl"], 6)(features(batch, n=5), batch)
    with pytest.raises(ValueError, match="'Cl'"):
        DirectCharges(["Na"], 6)(features(batch), batch)
    with pytest.raises(ValueError, match="hardness must be a positive"):
        QeqCharges(["Na"], 6, hardness=0.0)
    with pytest.raises(ValueError, match="no Gaussian width"):
        QeqCharges(["Na", "Cl"], 6, sigma={"Na": 1.0})


@pytest.mark.parametrize("envelope", ["cosine", "polynomial"])
@pytest.mark.parametrize("basis", ["gaussian", "bessel"])
def test_radial_basis_vanishes_smoothly_at_the_cutoff(basis, envelope):
    rbf = RadialBasis(5.0, 8, basis, envelope)
    r = torch.tensor([0.5, 2.0, 5.0 - 1e-4, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    e = rbf(r)
    assert e.shape == (5, 8)
    assert torch.all(e[3:] == 0)
    (slope,) = torch.autograd.grad(e.sum(), r)
    assert abs(slope[2].item()) < 1e-3 and slope[4].item() == 0.0
    assert rbf(r.detach().float()).dtype == torch.float32


def test_radial_functions_are_the_papers():
    r = torch.tensor([1.3], dtype=torch.float64)
    np.testing.assert_allclose(gaussian_basis(r, 4.0, 5)[0, 2].item(), np.exp(-0.5 * (1.3 - 2.0) ** 2))
    np.testing.assert_allclose(bessel_basis(r, 4.0, 3)[0, 2].item(), np.sqrt(2 / 4) * np.sin(3 * np.pi * 1.3 / 4) / 1.3)
    d = torch.tensor([0.0, 1.0], dtype=torch.float64)
    np.testing.assert_allclose(polynomial_envelope(d, 1.0).numpy(), [1.0, 0.0], atol=1e-14)
    with pytest.raises(ValueError, match="basis"):
        RadialBasis(5.0, 8, "sinc")
