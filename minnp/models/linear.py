"""The linear baseline: the best straight line through the descriptors, and Δ-learning on top of it.

Notebook 06 fits it by hand on the lecture's arrays; notebook 07 sets it beside the network; every
:func:`minnp.train.fit` of an HDNNP reports its validation error beside the network's, so a
learner always sees whether the network earns its keep.

A linear model gives each atom the dot product of its scaled descriptor with a weight vector of
its element, plus a constant of its element:

    E = Σ_i [ w_{Z_i} · x̂_i + e_{Z_i} ],    x̂_i = (G_i - μ_{Z_i}) / s_{Z_i}

It is linear in its parameters θ = (w_Z, e_Z), and so are its forces,

    F_a = -∂E/∂x_a = Σ_{pairs p with i_p = a} w_{Z_a} · J_p / s_{Z_a} - Σ_{pairs p with j_p = a} w_{Z_{i_p}} · J_p / s_{Z_{i_p}}

with the pair Jacobians J_p = ∂G_{i_p}/∂r_p (F, 3) that the HDNNP precomputes for training anyway
(:class:`~minnp.models.hdnnp.FeatureCache`). Energies and forces are one design matrix A times θ,
and the θ that minimises :func:`~minnp.train.fit`'s own loss plus a ridge term,

    L(θ) = w_E (1/B) Σ_s ((E_s - E_s^ref) / n_s)²  +  w_F (1/3N) Σ_i |F_i - F_i^ref|²  +  λ |w|²,

solves the normal equations (AᵀA + λ) θ = Aᵀy: no learning rate, no epochs, the global optimum
in one linear solve. λ is relative to the mean diagonal of AᵀA (``ridge``) and acts on the
weights w only; it keeps the solve well posed when descriptor columns are nearly collinear, as
ACSF columns often are.

Δ-learning (Ramakrishnan, Dral, Rupp & von Lilienfeld, J. Chem. Theory Comput. 11, 2087 (2015)):
``HDNNP(..., baseline="linear")`` keeps this linear model inside the atomic energy,

    E_i = w_{Z_i} · x̂_i + e_{Z_i} + NN_{Z_i}(x̂_i),

fitted first and then frozen; the networks' last layers start at zero, so training starts *at*
the baseline and the networks learn only what the line misses. Because ``fit`` keeps the best
validation state and counts the starting state, the model it returns is never worse on the
validation set than its own linear baseline.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

Tensor = torch.Tensor

# One labelled chunk of structures, as minnp.train.fit holds it:
# (cache: FeatureCache, structure: (N,) structure index of each atom, energy: (B,) eV,
#  forces: (N, 3) eV/Å or None, n_atoms: (B,))
Chunk = tuple


def design(cache, structure: Tensor, n_structures: int, mean: Tensor, std: Tensor,
           forces: bool = True) -> tuple[Tensor, Tensor | None]:
    """Design matrices of the linear model on one chunk: A_E (B, S·(F+1)) for the structures'
    energies and A_F (3N, S·(F+1)) for the force components (None without Jacobians or when
    ``forces`` is False). Column block k holds element k's F weights, then its constant.

    ``cache``: a FeatureCache (features (N, F), species (N,), pairs i, j (P,), jacobian (P, F, 3));
    ``mean``, ``std``: the per-element feature scaling (S, F)."""
    s = cache.species  # (N,)
    n_species, n_features = mean.shape
    x = (cache.features - mean[s]) / std[s]  # (N, F) x̂_i
    per_atom = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)  # (N, F + 1): ∂E_i/∂(w, e) of its element
    # energies: sum each atom's row into block (structure, element)
    A_E = per_atom.new_zeros(n_structures * n_species, n_features + 1)
    A_E = A_E.index_add(0, structure * n_species + s, per_atom)  # (B·S, F+1)
    A_E = A_E.reshape(n_structures, n_species * (n_features + 1))  # (B, S·(F+1))
    if not forces or cache.jacobian is None:
        return A_E, None
    # forces: pair p moves its centre i_p by +w·J_p/s and its neighbour j_p by -w·J_p/s
    n_atoms = len(s)
    k = s[cache.i]  # (P,) element of each pair's centre
    D = cache.jacobian / std[k][:, :, None]  # (P, F, 3) ∂x̂_{i_p}/∂r_p
    A_F = D.new_zeros(n_atoms * n_species, n_features + 1, 3)
    A_F = A_F.index_add(0, cache.i * n_species + k, torch.nn.functional.pad(D, (0, 0, 0, 1)))
    A_F = A_F.index_add(0, cache.j * n_species + k, -torch.nn.functional.pad(D, (0, 0, 0, 1)))
    # (N·S, F+1, 3) -> (N, 3, S, F+1) -> (3N, S·(F+1)), rows ordered like forces.reshape(-1)
    A_F = A_F.reshape(n_atoms, n_species, n_features + 1, 3).permute(0, 3, 1, 2)
    return A_E, A_F.reshape(3 * n_atoms, n_species * (n_features + 1))


def fit_linear(chunks: Iterable[Chunk], mean: Tensor, std: Tensor, energy_weight: float = 1.0,
               force_weight: float = 1.0, ridge: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Weights w (S, F) and constants e (S,) of the linear model that minimises fit's loss on the
    training chunks (normal equations accumulated chunk by chunk, in float64)."""
    chunks = list(chunks)
    n_species, n_features = mean.shape
    size = n_species * (n_features + 1)
    n_energies = sum(len(energy) for _, _, energy, _, _ in chunks)
    n_components = sum(f.numel() for _, _, _, f, _ in chunks if f is not None)
    with_forces = force_weight > 0 and n_components > 0
    AtA = torch.zeros(size, size, dtype=torch.float64)
    Aty = torch.zeros(size, dtype=torch.float64)
    for cache, structure, energy, forces, n_atoms in chunks:
        A_E, A_F = design(cache, structure, len(energy), mean, std, forces=with_forces)
        rows = [(A_E / n_atoms[:, None], energy / n_atoms, energy_weight / n_energies)]  # per atom
        if with_forces:
            rows.append((A_F, forces.reshape(-1), force_weight / n_components))
        for A, y, weight in rows:
            A, y = A.detach().cpu().double(), y.detach().cpu().double()
            AtA += weight * A.T @ A
            Aty += weight * A.T @ y
    is_weight = torch.ones(n_species, n_features + 1, dtype=torch.bool)
    is_weight[:, -1] = False  # the constants e_Z are not penalised
    is_weight = is_weight.reshape(-1)
    scale = AtA.diagonal()[is_weight].mean() if is_weight.any() else torch.tensor(1.0, dtype=torch.float64)
    penalty = torch.diag(ridge * scale * is_weight.double())
    # least squares on the regularised normal equations: the minimum-norm solution when element
    # constants cannot be told apart (a fixed composition), as in ElementNetworks.fit_offset
    theta, *_ = np.linalg.lstsq((AtA + penalty).numpy(), Aty.numpy(), rcond=None)
    theta = torch.as_tensor(theta).reshape(n_species, n_features + 1).to(mean)
    return theta[:, :-1], theta[:, -1]


def predict_linear(cache, structure: Tensor, n_structures: int, mean: Tensor, std: Tensor, weight: Tensor,
                   constant: Tensor, forces: bool = True) -> tuple[Tensor, Tensor | None]:
    """Energies (B,) and forces (N, 3) (None without Jacobians) of the linear model on one chunk."""
    theta = torch.cat([weight, constant[:, None]], dim=1).reshape(-1)  # (S·(F+1),)
    A_E, A_F = design(cache, structure, n_structures, mean, std, forces=forces)
    return A_E @ theta, (None if A_F is None else (A_F @ theta).reshape(-1, 3))
