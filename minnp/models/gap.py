"""Gaussian approximation potential (GAP): sparse Gaussian-process regression on SOAP.

Notebook 11 derives it from kernel ridge regression on energies and fits it to the mlearn DFT Si
set. Bartók, Payne, Kondor & Csányi, Phys. Rev. Lett. 104, 136403 (2010); the sparse solution as
gap_fit (QUIP) solves it: Bartók & Csányi, Int. J. Quantum Chem. 115, 1051 (2015).

The energy is a sum of atomic energies, each a kernel expansion over M *sparse points* x_m
(representative atomic environments of the training set) plus a per-element offset:

    E = Σ_i ε_i,      ε_i = e_{Z_i} + Σ_m α_m k(G_i, x_m),      k(x, y) = δ² (x̂·ŷ)^ζ [Z_x = Z_y]

- G_i: the SOAP power spectrum of atom i (notebook 05), (N, F); x̂ = x / |x| (gap_fit's
  ``normalise``), so the kernel measures only the *shape* of an environment; atoms of different
  elements never correlate (one GAP per element, as gap_fit's Z-specific SOAP).
- δ: the energy scale of the kernel (eV), ζ: a positive integer sharpening the similarity.
- e_Z: least squares of the training energies on the element counts (gap_fit's e0 "average").

Training data are linear functionals of the atomic energies: a total energy E_s = Σ_{i∈s} ε_i
and a force F_a = -∂E/∂x_a. With y the targets (E_s - Σ e_Z, F_a), the covariances with the
sparse points are the rows of K_nm:

    energy row of structure s:  Σ_{i∈s} k(G_i, x_m)                                      (B, M)
    force rows of atom a:       -∂/∂x_a Σ_i k(G_i, x_m)                                  (3N, M)

The force rows go through the descriptor by the chain rule, with the pair Jacobian
J_p = ∂G_{i_p}/∂r_p (:meth:`~minnp.descriptors.base.Descriptor.pair_jacobian`, as the HDNNP
trains): for the normalised dot-product kernel, with c_im = Ĝ_i·x̂_m,

    ∂k(G_i, x_m)/∂G_i = a_im (x̂_m - c_im Ĝ_i),     a_im = δ² ζ c_im^(ζ-1) / |G_i|
    ∂k/∂r_p = a_{i_p m} (x̂_m·J_p - c_{i_p m} Ĝ_{i_p}·J_p)                                (P, M, 3)

and r_p = x_j - x_i + S·cell adds ∂k/∂r_p to atom j and takes it from atom i. A stress label
(optional, ``fit(..., stress=True)``) is one more linear functional, the virial
V σ_ab = ∂E/∂ε_ab = ½ Σ_p (r_pa ∂E/∂r_pb + r_pb ∂E/∂r_pa) (ASE's sign), with noise
σ_V² n_s as gap_fit's virial sigma.

The sparse GP (subset of regressors / projected process, as gap_fit): with Σ the noise
(σ_E² n_s for the energy of an n_s-atom structure, gap_fit's ``sigma_per_atom``; σ_F² for each
force component) and K_mm = L Lᵀ (Cholesky, with a jitter on the diagonal),

    α = (K_mm + K_mn Σ⁻¹ K_nm)⁻¹ K_mn Σ⁻¹ y  =  argmin | [Σ^(-1/2) K_nm ; Lᵀ] α - [Σ^(-1/2) y ; 0] |²

solved by a QR factorisation of the stacked matrix (never the normal-equation inverse, whose
condition number is the square of this one). With every training environment as a sparse point
and energies only, this *is* the full GP (tests hold it to a dense solve); with forces the sparse
basis approximates the derivative observations. The predictive variance of an atomic energy (the
projected process), with R from the same QR (RᵀR = K_mm + K_mn Σ⁻¹ K_nm):

    var ε_* = k_** - |L⁻¹ k_m*|² + |R⁻ᵀ k_m*|²

and of a total energy the same with k summed over the structure's atoms. Forces and stress of a
fitted GAP come from autograd through the descriptor like every energy module in the course.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.data import chemical_symbols

from minnp.batch import Batch, atoms_to_batch, sum_per_structure
from minnp.checkpoint import Checkpointable
from minnp.descriptors.soap import SOAP
from minnp.models.networks import ElementNetworks

Tensor = torch.Tensor
__all__ = ["GAP"]
SPARSE_METHODS = ("cur", "fps")
VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # xx yy zz yz xz xy: ASE's order


def _stress_label(atoms: Atoms) -> np.ndarray | None:
    """The structure's reference stress (6,) in eV/Å³ (ASE's sign and order), or None."""
    try:
        stress = atoms.get_stress(voigt=True) if atoms.calc is not None else None
    except PropertyNotImplementedError:
        return None
    if stress is not None and not np.isfinite(stress).all():
        raise ValueError("a structure has a non-finite reference stress: fix or drop it, or fit with stress=False")
    return stress


class GAP(Checkpointable, torch.nn.Module):
    """Sparse GP regression on per-atom SOAP: per-atom energies (N,) in eV.

    ``n_sparse`` sparse points per element; ``sigma_energy`` (eV/atom), ``sigma_force`` (eV/Å)
    and ``sigma_virial`` (eV/atom, for stress labels) are the regularisation (expected errors);
    ``sparse_method`` "cur" (leverage-score sampling) or "fps" (farthest-point sampling in the
    kernel's distance), seeded by ``seed``.

    >>> from minnp.descriptors import SOAP
    >>> soap = SOAP(["Si"], r_cut=4.5, n_max=4, l_max=3, sigma=0.5, periodic=True)
    >>> gap = GAP(soap, n_sparse=50, zeta=4)
    """

    def __init__(self, descriptor: SOAP, n_sparse: int = 100, zeta: int = 4, delta: float = 1.0,
                 sigma_energy: float = 0.002, sigma_force: float = 0.1, sigma_virial: float = 0.05,
                 sparse_method: str = "cur", jitter: float = 1e-8, seed: int = 0, dtype: torch.dtype = torch.float64):
        super().__init__()
        if not isinstance(descriptor, SOAP) or descriptor.average != "off":
            what = type(descriptor).__name__ + ("" if not isinstance(descriptor, SOAP) else
                                                f" with average={descriptor.average!r}")
            raise TypeError(f"GAP needs a per-atom SOAP descriptor (minnp.descriptors.SOAP with average='off', "
                            f"the kernel of notebook 05); got {what}")
        if int(zeta) != zeta or zeta < 1:
            raise ValueError(f"zeta must be a positive integer (the kernel's power), got zeta={zeta}")
        if int(n_sparse) != n_sparse or n_sparse < 1:
            raise ValueError(f"n_sparse must be a positive integer (sparse points per element), got {n_sparse}")
        if sparse_method not in SPARSE_METHODS:
            raise ValueError(f"sparse_method {sparse_method!r} unknown: use one of {list(SPARSE_METHODS)}")
        for name, value in (("delta", delta), ("sigma_energy", sigma_energy), ("sigma_force", sigma_force),
                            ("sigma_virial", sigma_virial)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {name}={value}")
        if not jitter >= 0:
            raise ValueError(f"jitter must be >= 0, got jitter={jitter}")
        self.descriptor = descriptor
        self.species = list(descriptor.species)  # atomic numbers, ascending
        self.n_sparse, self.zeta, self.delta = int(n_sparse), int(zeta), float(delta)
        self.sigma_energy, self.sigma_force = float(sigma_energy), float(sigma_force)
        self.sigma_virial = float(sigma_virial)
        self.sparse_method, self.jitter, self.seed = sparse_method, float(jitter), int(seed)
        M, F = self.n_sparse * len(self.species), descriptor.get_number_of_features()
        # fitted by fit(), saved with the model
        self.register_buffer("offset", torch.zeros(len(self.species)))  # e_Z (S,)
        self.register_buffer("sparse_points", torch.zeros(M, F))  # x̂_m, unit vectors (M, F)
        self.register_buffer("sparse_species", torch.full((M,), -1))  # species index of x_m (M,); -1: not fitted
        self.register_buffer("alpha", torch.zeros(M))  # weights α (M,)
        self.register_buffer("L_mm", torch.zeros(M, M))  # K_mm + jitter = L Lᵀ (lower)
        self.register_buffer("R", torch.zeros(M, M))  # RᵀR = K_mm + K_mn Σ⁻¹ K_nm (upper)
        self.to(dtype)

    def config(self) -> dict:
        """Constructor arguments besides the descriptor: ``GAP(descriptor, **gap.config())``."""
        return {"n_sparse": self.n_sparse, "zeta": self.zeta, "delta": self.delta,
                "sigma_energy": self.sigma_energy, "sigma_force": self.sigma_force, "sigma_virial": self.sigma_virial,
                "sparse_method": self.sparse_method, "jitter": self.jitter, "seed": self.seed}

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    @property
    def fitted(self) -> bool:
        return bool((self.sparse_species >= 0).all())

    # ---- the kernel ------------------------------------------------------------------------------

    def kernel(self, G: Tensor, s: Tensor) -> Tensor:
        """k(G_i, x_m) = δ² (Ĝ_i·x̂_m)^ζ for atoms of the sparse point's element, (N, M)."""
        c = (G / G.norm(dim=1, keepdim=True)) @ self.sparse_points.T  # (N, M)
        return self.delta**2 * c**self.zeta * (s[:, None] == self.sparse_species[None, :])

    def forward(self, batch: Batch) -> Tensor:
        """Atomic energies ε_i = e_{Z_i} + Σ_m α_m k(G_i, x_m), (N,)."""
        self._check_fitted()
        G = self.descriptor(batch)  # (N, F)
        s = self.descriptor.species_index(batch)  # (N,)
        return self.offset[s] + self.kernel(G, s) @ self.alpha

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, structures: Sequence[Atoms], forces: bool = True, stress: bool = False,
            batch_size: int = 4) -> dict:
        """Solve the sparse GP on the structures' total energies (and forces, and with ``stress``
        the stress of every structure that has a stress label): offsets, sparse points, α, and
        the factors of the predictive variance. Returns what was fitted: ``n_energies``,
        ``n_forces`` (force components), ``n_stresses`` (structures), ``n_sparse`` (M), ``time`` (s)."""
        from minnp.train import _labels  # the one label check of every fit (train imports models)

        start = time.perf_counter()
        if len(structures) == 0:
            raise ValueError("the list of training structures is empty: pass labelled structures to fit")
        energies, labels, _ = _labels(structures, forces, False, range(len(structures)))
        device, dtype = self.alpha.device, self.alpha.dtype
        ElementNetworks.fit_offset(self, structures, energies)  # e_Z: the networks' least squares, on self

        starts = range(0, len(structures), batch_size)
        chunks = [structures[k:k + batch_size] for k in starts]
        G, s = [], []  # 1. every training environment, for the sparse points
        with torch.no_grad():
            for chunk in chunks:
                batch = atoms_to_batch(chunk, device=device, dtype=dtype)
                G.append(self.descriptor(batch))
                s.append(self.descriptor.species_index(batch))
        self._choose_sparse_points(torch.cat(G), torch.cat(s))

        # 2. K_mm = L Lᵀ, with jitter: duplicated environments (a perfect crystal) make K_mm singular
        K_mm = self.delta**2 * (self.sparse_points @ self.sparse_points.T) ** self.zeta
        K_mm = K_mm * (self.sparse_species[:, None] == self.sparse_species[None, :])
        jitter = max(self.jitter, 100 * torch.finfo(dtype).eps if dtype != torch.float64 else 0.0)  # float32: 1e-5
        eye = torch.eye(len(K_mm), dtype=dtype, device=device)
        self.L_mm.copy_(torch.linalg.cholesky(K_mm + jitter * self.delta**2 * eye))

        # 3. the rows of K_nm, each divided by its noise σ, and the targets y / σ
        rows, targets, n_stresses = [], [], 0
        for first, chunk in zip(starts, chunks):
            batch = atoms_to_batch(chunk, device=device, dtype=dtype)
            n_atoms = batch.n_atoms.to(dtype)  # (b,)
            E = torch.tensor(energies[first:first + batch_size], device=device, dtype=dtype)  # (b,)
            E = E - sum_per_structure(self.offset[self.descriptor.species_index(batch)], batch)
            sigma_E = self.sigma_energy * n_atoms.sqrt()  # (b,) gap_fit's sigma_per_atom
            energy_rows, force_rows, virial_rows = self._design_rows(batch, forces, stress)  # (b|n, ..., M)
            rows.append(energy_rows / sigma_E[:, None])
            targets.append(E / sigma_E)
            if forces:
                rows.append(force_rows.reshape(-1, force_rows.shape[-1]) / self.sigma_force)  # (3n, M)
                F = torch.tensor(np.concatenate(labels[first:first + batch_size]), device=device, dtype=dtype)
                targets.append(F.reshape(-1) / self.sigma_force)
            labelled = [k for k, atoms in enumerate(chunk) if stress and _stress_label(atoms) is not None]
            if labelled:  # virial V σ (Voigt xx yy zz yz xz xy), noise σ_V √n
                V = batch.volume()[labelled]  # (b',)
                virial = torch.tensor(np.stack([_stress_label(chunk[k]) for k in labelled]), device=device,
                                      dtype=dtype) * V[:, None]  # (b', 6)
                sigma_V = self.sigma_virial * n_atoms[labelled].sqrt()[:, None]  # (b', 1)
                rows.append((virial_rows[labelled] / sigma_V[..., None]).reshape(-1, virial_rows.shape[-1]))
                targets.append((virial / sigma_V).reshape(-1))
                n_stresses += len(labelled)

        # 4. least squares | [K_nm/σ ; Lᵀ] α - [y/σ ; 0] |: A = QR, R α = Qᵀ b
        A = torch.cat([torch.cat(rows), self.L_mm.T])  # (n_rows + M, M)
        b = torch.cat([torch.cat(targets), torch.zeros(len(K_mm), dtype=dtype, device=device)])
        Q, R = torch.linalg.qr(A)  # (n_rows + M, M), (M, M)
        self.R.copy_(R)
        self.alpha.copy_(torch.linalg.solve_triangular(R, (Q.T @ b)[:, None], upper=True)[:, 0])
        return {"n_energies": len(structures), "n_forces": 3 * sum(len(f) for f in labels),
                "n_stresses": n_stresses, "n_sparse": len(K_mm), "time": time.perf_counter() - start}

    def _design_rows(self, batch: Batch, forces: bool = False, virial: bool = False
                     ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Energy rows Σ_{i∈s} k(G_i, x_m), (B, M); with ``forces`` the force rows
        -∂/∂x_a Σ_i k(G_i, x_m), (N, 3, M); with ``virial`` the virial rows ∂/∂ε Σ_i k(G_i, x_m)
        in Voigt order, (B, 6, M): the chain rule through the pair Jacobian (module docstring)."""
        s = self.descriptor.species_index(batch)  # (N,)
        if not (forces or virial):
            with torch.no_grad():
                return sum_per_structure(self.kernel(self.descriptor(batch), s), batch), None, None
        G, nbrs, J = self.descriptor.pair_jacobian(batch)  # (N, F), pairs, (P, F, 3)
        i, j = nbrs.i, nbrs.j
        norm = G.norm(dim=1, keepdim=True)  # (N, 1)
        G_hat = G / norm
        c = G_hat @ self.sparse_points.T  # (N, M)
        same = s[:, None] == self.sparse_species[None, :]  # (N, M)
        energy_rows = sum_per_structure(self.delta**2 * c**self.zeta * same, batch)  # (B, M)
        a = self.delta**2 * self.zeta * c ** (self.zeta - 1) / norm * same  # (N, M)

        def dk(i, J):  # ∂k(G_i, x_m)/∂G_i · J = a_im (x̂_m·J - c_im Ĝ_i·J) for each J (X, F, 3) -> (X, 3, M)
            xJ = J.transpose(1, 2) @ self.sparse_points.T  # (X, 3, M), one matrix product
            gJ = torch.einsum("xf,xfc->xc", G_hat[i], J)  # (X, 3)
            return xJ.addcmul_(gJ[:, :, None], c[i][:, None, :], value=-1).mul_(a[i][:, None, :])

        dk_dr = dk(i, J)  # (P, 3, M) ∂k/∂r_p, the time of a fit goes here
        force_rows = None
        if forces:  # r_p = x_j - x_i + S·cell: F = -∂/∂x gains ∂k/∂r_p on atom i and loses it on atom j;
            # atom i's share summed first, Σ_{p∈i} ∂k/∂r_p = ∂k/∂G_i · Σ_{p∈i} J_p: one (N, 3, M) term
            own = dk(torch.arange(len(G), device=G.device), J.new_zeros(len(G), *J.shape[1:]).index_add_(0, i, J))
            force_rows = own.index_add_(0, j, dk_dr, alpha=-1)  # (N, 3, M)
        virial_rows = None
        if virial:  # strain x -> x(1 + ε) moves r_p to r_p(1 + ε): ∂k/∂ε_ab = ½ Σ_p (r_pa ∂k/∂r_pb + r_pb ∂k/∂r_pa)
            r = nbrs.vectors(batch).detach()  # (P, 3)
            row, col = VOIGT  # the six (a, b)
            per_pair = 0.5 * (r[:, row, None] * dk_dr[:, col] + r[:, col, None] * dk_dr[:, row])  # (P, 6, M)
            virial_rows = per_pair.new_zeros(batch.n_structures, 6, per_pair.shape[-1]).index_add_(
                0, batch.structure[i], per_pair)  # (B, 6, M)
        return energy_rows, force_rows, virial_rows  # (B, M), (N, 3, M), (B, 6, M)

    @torch.no_grad()
    def _choose_sparse_points(self, G: Tensor, s: Tensor) -> None:
        """n_sparse environments of each element, by CUR leverage scores or farthest points."""
        generator = torch.Generator().manual_seed(self.seed)
        G_hat = G / G.norm(dim=1, keepdim=True)  # (N, F)
        for k, symbol in enumerate(self.species_symbols):
            candidates = torch.nonzero(s == k).flatten()  # (n_k,)
            if len(candidates) < self.n_sparse:
                raise ValueError(f"n_sparse={self.n_sparse} but the training structures hold only "
                                 f"{len(candidates)} {symbol} environments: lower n_sparse to at most "
                                 f"{len(candidates)} or add training data")
            X = G_hat[candidates]  # (n_k, F)
            pick = (self._cur(X, generator) if self.sparse_method == "cur" else self._fps(X, generator))
            rows = slice(k * self.n_sparse, (k + 1) * self.n_sparse)
            self.sparse_points[rows] = X[pick]
            self.sparse_species[rows] = k

    def _cur(self, X: Tensor, generator: torch.Generator) -> Tensor:
        """Rows drawn without replacement with probability ∝ their leverage score
        π_i = (1/r) Σ_{j<r} U_ij² (the top r left singular vectors of X; Mahoney & Drineas 2009)."""
        U, S, _ = torch.linalg.svd(X, full_matrices=False)  # (n, F')
        r = max(1, min(self.n_sparse, int((S > S[0] * 1e-10).sum())))
        leverage = (U[:, :r] ** 2).sum(1) / r  # (n,), sums to 1
        weights = (leverage + 1e-12 * leverage.max()).cpu().double()  # every row may be drawn
        return torch.multinomial(weights, self.n_sparse, replacement=False, generator=generator).to(X.device)

    def _fps(self, X: Tensor, generator: torch.Generator) -> Tensor:
        """Greedy farthest points in the kernel distance d² = 2δ²(1 - (x̂·ŷ)^ζ), from a random start."""
        first = int(torch.randint(len(X), (1,), generator=generator))
        picked = [first]
        distance = 1 - (X @ X[first]) ** self.zeta  # (n,) to the nearest picked point (δ² dropped)
        for _ in range(self.n_sparse - 1):  # one step per sparse point, every candidate at once
            distance[picked[-1]] = -1.0  # never pick twice, even among duplicates
            picked.append(int(distance.argmax()))
            distance = torch.minimum(distance, 1 - (X @ X[picked[-1]]) ** self.zeta)
        return torch.tensor(picked, device=X.device)

    # ---- uncertainty -------------------------------------------------------------------------------

    @torch.no_grad()
    def variance(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Predictive (projected-process) variance of each atomic energy (N,) and of each
        structure's total energy (B,), in eV²: k_** - |L⁻¹ k_m*|² + |R⁻ᵀ k_m*|²."""
        self._check_fitted()
        G = self.descriptor(batch)  # (N, F)
        s = self.descriptor.species_index(batch)
        k_atoms = self.kernel(G, s).T  # (M, N)
        k_structures = sum_per_structure(k_atoms.T, batch).T  # (M, B)
        G_hat = G / G.norm(dim=1, keepdim=True)
        together = (batch.structure[:, None] == batch.structure[None, :]) & (s[:, None] == s[None, :])
        k_xx = self.delta**2 * (G_hat @ G_hat.T) ** self.zeta * together  # (N, N), within structures
        k_ss = sum_per_structure(sum_per_structure(k_xx, batch).T, batch)  # (B, B); diagonal used

        def explained(k):  # (M, X) -> (X,): |L⁻¹ k|² - |R⁻ᵀ k|²
            prior = torch.linalg.solve_triangular(self.L_mm, k, upper=False)
            posterior = torch.linalg.solve_triangular(self.R.T, k, upper=False)
            return (prior**2).sum(0) - (posterior**2).sum(0)

        per_atom = self.delta**2 - explained(k_atoms)
        per_structure = k_ss.diagonal() - explained(k_structures)
        return per_atom.clamp(min=0), per_structure.clamp(min=0)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("this GAP is not fitted: call gap.fit(training_structures) first, "
                               "or load a fitted one with GAP.load(path)")

    def extra_repr(self) -> str:
        return (f"species={self.species_symbols}, n_sparse={self.n_sparse}, zeta={self.zeta}, delta={self.delta}, "
                f"sigma_energy={self.sigma_energy}, sigma_force={self.sigma_force}, sigma_virial={self.sigma_virial}, "
                f"sparse_method={self.sparse_method!r}")
