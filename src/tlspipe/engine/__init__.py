"""The native simulation engine (numba, float64, one thread per process).

Public calls::

    ff = ForceField(diameters, box, skin=0.3)
    e, f = ff.energy_forces(x)          # total energy (epsilon), forces (N, 3) (epsilon/sigma)
    x_min, res = fire_minimise(x, diameters, box, ftol=1e-10)
    sim = MD(x, v, diameters, box); sim.run(n_steps, dt=0.01, thermostat="nve"|"berendsen"|"langevin", T=...)
    diam, n_acc, dU = swap_mc(x, diameters, box, n_attempts, T)

The box is periodic and orthorhombic; pass a scalar for a cube.  Its shortest edge must exceed twice the
largest interaction range (2 * 1.25 * sigma_max), so that minimum-image forces are exact.
"""

from __future__ import annotations

import numpy as np

from .. import model
from ..util.periodic import box3


def as_box(box) -> np.ndarray:
    b = box3(box)
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ValueError(f"box edge lengths must be positive and finite, got {b}")
    return b


class NonFiniteError(ValueError):
    """Positions that became NaN or inf (an integration that blew up, or such input)."""


def check_system(x, diameters, box):
    """Validate shapes, finiteness, and that the box is large enough for the minimum image."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {x.shape}")
    if x.shape[0] != np.asarray(diameters).shape[0]:
        raise ValueError(f"{x.shape[0]} positions but {np.asarray(diameters).shape[0]} diameters")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0, 0]
        raise NonFiniteError(f"positions contain NaN or inf (first at particle index {bad})")
    rc = model.max_cutoff(np.asarray(diameters))
    if np.min(box) <= 2.0 * rc:
        raise ValueError(
            f"box edge {np.min(box):.4g} is not larger than twice the interaction range {rc:.4g}: "
            "use more particles (N >= ~70 at density 1) so that the minimum image is exact"
        )


def lattice_start(n: int, box, rng: np.random.Generator, jitter: float = 0.1) -> np.ndarray:
    """n positions on the sites of a simple-cubic-like lattice filling the box (randomly chosen sites when
    the lattice has more), each displaced uniformly by up to +-jitter lattice spacings.  No two particles
    overlap, so this is a safe start for melting or minimisation."""
    box = as_box(box)
    m = int(np.ceil(n ** (1.0 / 3.0) - 1e-9))
    g = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(np.float64)
    g = g[np.sort(rng.choice(len(g), size=n, replace=False))]
    a = box / m
    x = (g + 0.5 + rng.uniform(-jitter, jitter, size=g.shape)) * a - box / 2
    return x


from .md import MD, maxwell_velocities, temperature  # noqa: E402
from .minimise import FIRE_DEFAULTS, MinResult, fire_minimise  # noqa: E402
from .potential import build_pairs, energy_forces, energy_forces_auto, max_force, new_nlist  # noqa: E402
from .swap import swap_mc  # noqa: E402


class ForceField:
    """Energy and forces of one system with a persistent Verlet list (rebuilt when a particle moved > skin/2)."""

    def __init__(self, diameters, box, skin: float = 0.3):
        self.diameters = np.ascontiguousarray(diameters, dtype=np.float64)
        self.box = as_box(box)
        self.skin = float(skin)
        self._nl = None
        self.n_builds = 0
        self._f = np.zeros((self.diameters.size, 3))
        check_system(np.zeros((self.diameters.size, 3)), self.diameters, self.box)

    @property
    def n_particles(self) -> int:
        return self.diameters.size

    def _prepare(self, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.n_particles, 3):
            raise ValueError(f"positions must have shape ({self.n_particles}, 3), got {x.shape}")
        if self._nl is None:
            if not np.all(np.isfinite(x)):
                raise NonFiniteError("positions contain NaN or inf")
            self._nl = new_nlist(x, self.diameters, self.box, self.skin)
            self.n_builds += 1
        return x

    def energy_forces(self, x):
        x = self._prepare(x)
        f = np.empty_like(x)
        e, self._nl, reb = energy_forces_auto(x, self.diameters, self.box, self.skin, self._nl, f)
        self.n_builds += int(reb)
        if not np.isfinite(e):
            raise ValueError("energy is not finite: positions contain NaN/inf or particles overlap exactly")
        return float(e), f

    def energy(self, x) -> float:
        return self.energy_forces(x)[0]

    def forces(self, x):
        return self.energy_forces(x)[1]

    def reset(self):
        """Forget the neighbour list (call after changing diameters in place)."""
        self._nl = None


__all__ = ["ForceField", "fire_minimise", "MinResult", "FIRE_DEFAULTS", "MD", "maxwell_velocities",
           "temperature", "swap_mc", "lattice_start", "as_box", "check_system", "build_pairs", "energy_forces",
           "energy_forces_auto", "max_force", "new_nlist"]
