"""Checkpoints of learned models: weights only, with an explicit, versioned config.

Notebook 07 saves and reloads its HDNNP; notebook 10's 3G and 4G networks save the same way.

A checkpoint is a dictionary of tensors, numbers and strings, written with ``torch.save`` and
read with ``torch.load(weights_only=True)``, so loading one never runs pickled code:

    format        "minnp.checkpoint"
    version       CHECKPOINT_VERSION (an int; another version is refused with the fix)
    minnp_version the minnp that wrote it
    model         the model's class name (one of minnp's learned models)
    config        the model's constructor arguments, ``model.config()``: ``cls(descriptor, **config)``
    descriptor    {"class": name, "kwargs": descriptor.config()} (minnp's own descriptors only)
    species       the model's atomic numbers, checked against the rebuilt descriptor
    dtype         "float32" or "float64"
    state_dict    every parameter and buffer (weights, scaling, offsets)

A model class takes part by deriving from :class:`Checkpointable` (HDNNP, 3G, 4G, GAP, PINN,
MessagePassingPotential) and by a line in :data:`LEARNED_MODELS`, the only classes a file may name: it
gains ``model.save(path)`` and ``Class.load(path)``, the same as :func:`save` and :func:`load`.
Writing is atomic: a temporary file in the same folder, then ``os.replace``, so an interrupted
save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import importlib
import os
import pickle
import tempfile
from pathlib import Path

import torch

import minnp
import minnp.descriptors as descriptors

FORMAT = "minnp.checkpoint"
CHECKPOINT_VERSION = 1
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# the only classes a checkpoint may name: class name -> its module (imported when a file needs it)
LEARNED_MODELS = {
    "HDNNP": "minnp.models.hdnnp",
    "ThirdGeneration": "minnp.models.fourth_generation",
    "FourthGeneration": "minnp.models.fourth_generation",
    "GAP": "minnp.models.gap",
    "PINN": "minnp.models.pinn",
    "MessagePassingPotential": "minnp.models.message_passing",  # SchNet or equivariant features inside
}


class Checkpointable:
    """A learned model that saves and loads through :mod:`minnp.checkpoint`.

    Subclasses define ``config() -> dict`` (constructor arguments besides the descriptor, plain
    Python) and have ``descriptor`` and ``species`` attributes.
    """

    def config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must define config() to be saved")

    def save(self, path) -> None:
        """Write a weights-only checkpoint (:func:`minnp.checkpoint.save`)."""
        save(self, path)

    @classmethod
    def load(cls, path, device=None):
        """Rebuild a saved model of this class (:func:`minnp.checkpoint.load`)."""
        return load(path, device=device, expected=cls)


def save(model: torch.nn.Module, path) -> None:
    """Everything needed to rebuild ``model``, as tensors, numbers and strings; atomic write."""
    name = type(model).__name__
    if LEARNED_MODELS.get(name) != type(model).__module__:
        raise TypeError(f"{name} is not one of minnp's learned models {sorted(LEARNED_MODELS)}: "
                        "save its state_dict with torch.save instead")
    dtypes = {v.dtype for v in model.state_dict().values() if v.is_floating_point()}
    dtype = next((k for k, v in DTYPES.items() if dtypes == {v}), None)
    if dtype is None:
        raise TypeError(f"a checkpoint holds a float32 or a float64 model; this one has {sorted(map(str, dtypes))}: "
                        "convert it first, e.g. model.to(torch.float64)")
    data = {
        "format": FORMAT,
        "version": CHECKPOINT_VERSION,
        "minnp_version": minnp.__version__,
        "model": name,
        "config": model.config(),
        "descriptor": {"class": type(model.descriptor).__name__, "kwargs": model.descriptor.config()},
        "species": list(model.species),
        "dtype": dtype,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path, device=None, expected: type | None = None) -> torch.nn.Module:
    """Rebuild a saved model in eval mode (extrapolation warnings on), on ``device`` if given.

    Never unpickles arbitrary objects (``weights_only=True``). ``expected``: the class the
    caller wants (``HDNNP.load`` passes HDNNP); another class in the file is an error.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(
            f"{path} holds objects other than tensors, numbers and strings, so it is not a minnp checkpoint "
            f"(or it was altered); it was not loaded, and no code in it ran ({error})") from None
    if isinstance(data, dict) and data.get("format") == "minnp.HDNNP" and data.get("version") == 1:
        data = _from_hdnnp_v1(data)  # written by minnp 0.1.0 before this module existed
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path} is not a minnp checkpoint (format {found!r}, expected {FORMAT!r}); "
                         "write one with model.save(path)")
    if data.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is checkpoint version {data.get('version')} (written by minnp "
                         f"{data.get('minnp_version')}); this minnp {minnp.__version__} reads version "
                         f"{CHECKPOINT_VERSION}: load it with the minnp version that wrote it")
    missing = [k for k in ("model", "config", "descriptor", "species", "dtype", "state_dict") if k not in data]
    if missing:
        raise ValueError(f"{path} is an incomplete minnp checkpoint: no {missing}; save the model again")
    name = data["model"]
    if not isinstance(name, str) or name not in LEARNED_MODELS:
        raise ValueError(f"{path} holds a model of unknown class {name!r}; minnp's learned models are "
                         f"{sorted(LEARNED_MODELS)}")
    cls = getattr(importlib.import_module(LEARNED_MODELS[name]), name)
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(f"{path} holds a {name}, not a {expected.__name__}: load it with {name}.load(path) "
                         "or minnp.checkpoint.load(path)")
    if data["dtype"] not in DTYPES:
        raise ValueError(f"{path} has dtype {data['dtype']!r}; a checkpoint holds one of {sorted(DTYPES)}")
    spec = data["descriptor"]
    descriptor = descriptors.from_config(spec["class"], spec["kwargs"])  # minnp's own descriptors only
    if list(descriptor.species) != list(data["species"]):
        raise ValueError(f"{path} is inconsistent: the model's species {data['species']} differ from its "
                         f"descriptor's {list(descriptor.species)}; the file was altered or written by a bug: "
                         "save the model again")
    model = cls(descriptor, **data["config"], dtype=DTYPES[data["dtype"]])
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"{path}: its weights do not fit the {name} its config describes "
                         f"(the file was altered or written by another minnp): {error}") from None
    model.eval()  # a loaded model predicts: extrapolation warnings on
    return model.to(device) if device is not None else model


# HDNNP checkpoints of minnp 0.1.0 (format "minnp.HDNNP", version 1) -> this format's names
_HDNNP_V1_BUFFERS = {"feature_mean": "elements.input_mean", "feature_std": "elements.input_std",
                     "feature_min": "elements.input_min", "feature_max": "elements.input_max",
                     "energy_shift": "elements.offset"}


def _from_hdnnp_v1(data: dict) -> dict:
    """An HDNNP saved by minnp 0.1.0, in today's layout: same numbers, renamed tensors."""
    state = {}
    for key, value in data["state_dict"].items():
        if key.startswith("networks."):
            state["elements." + key] = value
        else:
            state[_HDNNP_V1_BUFFERS.get(key, key)] = value
    return {"format": FORMAT, "version": CHECKPOINT_VERSION, "minnp_version": data.get("minnp_version"),
            "model": "HDNNP", "config": {"hidden": data["hidden"], "activation": data["activation"]},
            "descriptor": data["descriptor"], "species": data["species"], "dtype": data["dtype"],
            "state_dict": state}
