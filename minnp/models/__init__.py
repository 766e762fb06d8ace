"""Learned potentials, all built on one per-element network container (:mod:`.networks`):
the Behler–Parrinello HDNNP (notebooks 06-07), its 3G/4G relatives (10), the Gaussian approximation
potential (11), the physically informed network (12), message passing with charge heads (13) and
equivariant message passing (14)."""

from minnp.models.equivariant import EquivariantFeatures
from minnp.models.fourth_generation import FourthGeneration, ThirdGeneration
from minnp.models.gap import GAP
from minnp.models.hdnnp import HDNNP
from minnp.models.message_passing import MessagePassingPotential, SchNet
from minnp.models.networks import ElementNetworks, ExtrapolationWarning, element_network
from minnp.models.pinn import PINN

__all__ = ["HDNNP", "ElementNetworks", "ExtrapolationWarning", "FourthGeneration", "ThirdGeneration",
           "element_network", "GAP", "PINN", "MessagePassingPotential", "SchNet", "EquivariantFeatures"]
