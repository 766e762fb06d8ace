"""Run the course's potentials in LAMMPS (notebook 15): export, single points, MPI-parallel MD.

- :func:`export` writes a potential's LAMMPS files (EAM, Tersoff, ML-IAP networks on SNAP).
- :func:`evaluate` gives LAMMPS' energy, forces and stress for ASE structures, in-process.
- :func:`run_md` runs NVE MD with LAMMPS' ``lmp`` on 1 or more MPI ranks (``mpirun``).
- :class:`SNAPDescriptor` computes SNAP bispectrum descriptors and their derivatives with
  LAMMPS, so :class:`minnp.models.HDNNP` trains on them; :func:`write_mliap` writes the result.
"""

from minnp.lammps.export import export
from minnp.lammps.mliap import SNAPDescriptor, mliap_model_text, write_mliap
from minnp.lammps.run import LammpsPotential, evaluate, import_lammps, lammps_frame, mpirun, run_md

__all__ = ["LammpsPotential", "SNAPDescriptor", "evaluate", "export", "import_lammps", "lammps_frame",
           "mliap_model_text", "mpirun", "run_md", "write_mliap"]
