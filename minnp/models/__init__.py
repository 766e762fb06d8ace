"""Learned potentials: the Behler–Parrinello HDNNP (notebooks 06-07) and its 3G/4G relatives (10),
all built on one per-element network container (:mod:`minnp.models.networks`)."""

from minnp.models.equivariant import EquivariantFeatures
from minnp.models.fourth_generation import FourthGeneration, ThirdGeneration
from minnp.models.gap import GAP
from minnp.models.hdnnp import HDNNP
from minnp.models.message_passing import MessagePassingPotential, SchNet
from minnp.models.networks import ElementNetworks, ExtrapolationWarning, element_network
from minnp.models.pinn import PINN

__all__ = ["HDNNP", "ElementNetworks", "ExtrapolationWarning", "FourthGeneration", "ThirdGeneration",
           "element_network"]
__all__ += ["PINN"]
__all__ += ["GAP"]
__all__ += ["MessagePassingPotential", "SchNet"]
__all__ += ["EquivariantFeatures"]
