"""minnp.checkpoint: every learned model saves and loads exactly, and a bad file gets a clear error.

Independent checks: predictions and every tensor of the state bitwise equal after the round trip;
files altered by hand (a pickled object, another version, species that disagree with the
descriptor, an unknown class) refused with messages that name the problem and the fix.
"""

import pickle

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

import minnp
from minnp import checkpoint, data
from minnp.descriptors import ACSF, SOAP
from minnp.models import HDNNP, FourthGeneration, ThirdGeneration


def _argon(k):
    atoms = bulk("Ar", "fcc", a=5.2, cubic=True)
    atoms.rattle(0.1, seed=k)
    return data.label(atoms, energy=-0.1 * k)


def _nacl(k):
    rng = np.random.default_rng(k)
    positions = np.array([[0, 0, 0], [2.6, 0, 0], [0, 2.6, 0], [2.6, 2.6, 0.0]]) + rng.normal(0, 0.1, (4, 3))
    atoms = Atoms("NaClClNa", positions=positions)
    atoms.info["charge"] = float(k % 2)
    return data.label(atoms, energy=-1.0 - 0.2 * k)


def _acsf(species, periodic):
    return ACSF(species, r_cut=4.5, g2_params=[[0.5, 2.5], [1.0, 3.5]], g4_params=[[0.05, 1, 1]], periodic=periodic)


MODELS = {
    "HDNNP on ACSF": (lambda: HDNNP(_acsf(["Ar"], True), hidden=(5, 4)), _argon),
    "HDNNP on SOAP": (lambda: HDNNP(SOAP(["Ar"], r_cut=4.5, n_max=3, l_max=2, periodic=True), hidden=(5,)), _argon),
    "3G": (lambda: ThirdGeneration(_acsf(["Na", "Cl"], False), hidden=(4,)), _nacl),
    "4G": (lambda: FourthGeneration(_acsf(["Na", "Cl"], False), hidden=(4,), hardness=3.0), _nacl),
}


def _prepared(name):
    """A model with every parameter drawn at random and its scaling and offsets fitted."""
    build, structure = MODELS[name]
    model, structures = build(), [structure(k) for k in range(4)]
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    if hasattr(model, "set_stage"):
        model.fit_scaling(structures)  # stage "charges"
        model.set_stage("energies")
    model.fit_scaling(structures)
    model.fit_energy_shift(structures)
    return model.eval(), structures


@pytest.fixture(scope="module", params=list(MODELS))
def prepared(request):
    return _prepared(request.param)


def test_round_trip_is_exact(prepared, tmp_path):
    model, structures = prepared
    model.save(tmp_path / "model.pt")
    loaded = type(model).load(tmp_path / "model.pt")
    also = checkpoint.load(tmp_path / "model.pt")
    assert type(loaded) is type(also) is type(model) and not loaded.training
    assert loaded.config() == model.config()
    assert type(loaded.descriptor) is type(model.descriptor) and loaded.descriptor.config() == model.descriptor.config()
    batch = minnp.atoms_to_batch(structures)
    a, b = minnp.compute(model, batch), minnp.compute(loaded, batch)
    assert torch.equal(a["energy"], b["energy"]) and torch.equal(a["forces"], b["forces"])
    assert model.state_dict().keys() == loaded.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert [p.requires_grad for p in model.parameters()] == [p.requires_grad for p in loaded.parameters()]


def test_charge_models_keep_their_training_stage(tmp_path):
    model, _ = _prepared("4G")
    assert model.stage == "energies"
    model.save(tmp_path / "model.pt")
    loaded = FourthGeneration.load(tmp_path / "model.pt")
    assert loaded.stage == "energies" and not any(p.requires_grad for p in loaded.charge_parameters())


def test_float32_round_trip_keeps_the_dtype(tmp_path):
    model = HDNNP(_acsf(["Ar"], True), hidden=(3,), dtype=torch.float32)
    model.save(tmp_path / "model.pt")
    assert HDNNP.load(tmp_path / "model.pt").energy_shift.dtype == torch.float32


# ---- bad files --------------------------------------------------------------------------------


def _altered(tmp_path, name="HDNNP on ACSF", **changes):
    model, _ = _prepared(name)
    model.save(tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    payload.update(changes)
    torch.save(payload, tmp_path / "altered.pt")
    return tmp_path / "altered.pt"


class _Boom:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_a_pickled_payload_is_refused_and_never_runs(tmp_path, capsys):
    path = _altered(tmp_path, evil=_Boom())
    with pytest.raises(pickle.UnpicklingError, match="not a minnp checkpoint"):
        checkpoint.load(path)
    assert "arbitrary code ran" not in capsys.readouterr().out


def test_version_mismatch_names_both_versions_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"checkpoint version 99 .* reads version 1: load it with the minnp version"):
        HDNNP.load(_altered(tmp_path, version=99))


def test_species_that_disagree_with_the_descriptor_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"species \[11\] differ from its descriptor's \[18\]"):
        checkpoint.load(_altered(tmp_path, species=[11]))


def test_unknown_model_class_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown class 'Evil'; minnp's learned models are"):
        checkpoint.load(_altered(tmp_path, model="Evil"))


def test_unknown_descriptor_class_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown descriptor class 'Popen'"):
        checkpoint.load(_altered(tmp_path, descriptor={"class": "Popen", "kwargs": {}}))


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a minnp checkpoint .* model.save"):
        checkpoint.load(tmp_path / "other.pt")


def test_loading_another_model_class_says_which_class_to_use(tmp_path):
    model, _ = _prepared("4G")
    model.save(tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"holds a FourthGeneration, not a HDNNP: load it with FourthGeneration.load"):
        HDNNP.load(tmp_path / "model.pt")


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    with pytest.raises(ValueError, match="do not fit the HDNNP its config describes"):
        checkpoint.load(_altered(tmp_path, config={"hidden": [7], "activation": "tanh"}))


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, _ = _prepared("HDNNP on ACSF")
    model.save(tmp_path / "model.pt")
    before = (tmp_path / "model.pt").read_bytes()

    def interrupted(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        model.save(tmp_path / "model.pt")
    assert (tmp_path / "model.pt").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"], "no temporary file left behind"


def test_a_fresh_interpreter_loads_a_checkpoint_through_minnp_checkpoint_alone(tmp_path):
    import subprocess
    import sys

    model, _ = _prepared("HDNNP on ACSF")
    model.save(tmp_path / "model.pt")
    code = f"import minnp.checkpoint; print(type(minnp.checkpoint.load({str(tmp_path / 'model.pt')!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "HDNNP"


def test_an_hdnnp_saved_by_minnp_0_1_loads_with_the_same_numbers(tmp_path):
    """minnp 0.1.0 wrote format "minnp.HDNNP" v1 with flat buffer names: such files still load."""
    model, structures = _prepared("HDNNP on ACSF")
    old_names = {"elements.input_mean": "feature_mean", "elements.input_std": "feature_std",
                 "elements.input_min": "feature_min", "elements.input_max": "feature_max",
                 "elements.offset": "energy_shift"}
    state = {old_names.get(k, k.removeprefix("elements.")): v for k, v in model.state_dict().items()}
    descriptor = dict(model.descriptor.config(), species=list(model.species))  # 0.1.0 kept atomic numbers
    torch.save({"format": "minnp.HDNNP", "version": 1, "minnp_version": "0.1.0",
                "descriptor": {"class": "ACSF", "kwargs": descriptor}, "hidden": [5, 4], "activation": "tanh",
                "species": list(model.species), "dtype": "float64", "state_dict": state}, tmp_path / "old.pt")
    loaded = HDNNP.load(tmp_path / "old.pt")
    batch = minnp.atoms_to_batch(structures)
    assert torch.equal(minnp.compute(model, batch)["forces"], minnp.compute(loaded, batch)["forces"])
