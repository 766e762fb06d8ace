"""Learned potentials: the Behler–Parrinello HDNNP (notebooks 06-07) and its 3G/4G relatives (10)."""

from minnp.models.fourth_generation import FourthGeneration, ThirdGeneration
from minnp.models.hdnnp import HDNNP, ExtrapolationWarning

__all__ = ["HDNNP", "ExtrapolationWarning", "FourthGeneration", "ThirdGeneration"]
