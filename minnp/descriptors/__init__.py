"""Descriptors: each atom's neighbourhood as a feature vector (notebooks 04 and 05).

Every descriptor is a :class:`Descriptor` (see :mod:`minnp.descriptors.base`): ``forward(batch)``
gives differentiable per-atom features (N, F) for models, ``pair_jacobian(batch)`` their
derivatives by each neighbour pair, and ``create(atoms)`` NumPy arrays in DScribe's exact layout
(:mod:`minnp.descriptors.dscribe_api`). ``descriptor.config()`` and :func:`from_config` save and
rebuild one (checkpoints).
"""

from minnp.descriptors.acsf import ACSF
from minnp.descriptors.base import Descriptor
from minnp.descriptors.cutoff import cosine_cutoff
from minnp.descriptors.soap import SOAP

__all__ = ["ACSF", "Descriptor", "SOAP", "cosine_cutoff", "from_config"]


def _minnp_descriptor_classes() -> dict[str, type]:
    """Every Descriptor subclass defined inside minnp, by class name."""
    found, todo = {}, [Descriptor]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.split(".")[0] == "minnp":
                found[sub.__name__] = sub
    return found


def from_config(class_name: str, kwargs: dict) -> Descriptor:
    """Rebuild a descriptor from its class name and :meth:`Descriptor.config`.

    Only minnp's own descriptor classes are accepted (a checkpoint never names code to run).
    """
    classes = _minnp_descriptor_classes()
    if not isinstance(class_name, str) or class_name not in classes:
        raise ValueError(f"unknown descriptor class {class_name!r}: a checkpoint may name only minnp's "
                         f"descriptors {sorted(classes)}")
    if not isinstance(kwargs, dict):
        raise TypeError(f"descriptor arguments must be a dict of constructor arguments, "
                        f"got {type(kwargs).__name__}")
    return classes[class_name](**kwargs)
