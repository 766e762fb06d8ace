"""Descriptors: each atom's neighbourhood as a feature vector (notebooks 04 and 05).

Every descriptor is a :class:`Descriptor` (see :mod:`minnp.descriptors.base`): ``forward(batch)``
gives differentiable per-atom features (N, F) for models, ``create(atoms)`` gives NumPy arrays
in DScribe's exact layout.
"""

from minnp.descriptors.acsf import ACSF
from minnp.descriptors.base import Descriptor
from minnp.descriptors.cutoff import cosine_cutoff
from minnp.descriptors.soap import SOAP

__all__ = ["ACSF", "Descriptor", "SOAP", "cosine_cutoff"]
