"""A cheap first band over the particles that move, used to start the full band.

Short, TLS-like pairs are localised: a few tens of particles carry nearly all of the displacement.  The
active band moves only the *active* particles (displaced more than ``active_disp`` between the two IS, plus
every particle within ``active_shell`` of one of them); all other particles sit at the linear interpolation
between the two IS in every image.  Per image only a local subsystem is evaluated (the active particles and
every frozen particle within reach of them); the energy of all other terms is a constant per image, added
so that the image energies are those of the full system.

The active band is only a starting guess: the path returned by :func:`tlspipe.path.glass.neb_pair` is always
the full band converged to the full tolerance, so the frozen particles cannot change V(xi); they only cut the
number of expensive full-band iterations.
"""

from __future__ import annotations

import numpy as np

from .. import model
from ..engine import ForceField
from ..util.periodic import box3, minimum_image
from .neb import interpolate, run_neb
from .options import GlassOptions, NEBOptions


class ActiveBand:
    """Band energy/force callable over the active coordinates (K, 3 n_act) of K interior images.

    Each image is a local subsystem (active particles first, then their frozen environment) evaluated with
    its own engine ForceField; the environment-environment terms are part of the per-image constant.
    """

    def __init__(self, x_a, x_b, diameters, box, active, n_images: int, skin: float = 0.3):
        n = diameters.size
        box = box3(box)
        act = np.flatnonzero(active)
        # environment: every particle that can come within the interaction range of an active one
        reach = model.max_cutoff(diameters) + skin + 0.5
        dist = np.minimum(_min_dist_to_set(x_a, act, box), _min_dist_to_set(x_b, act, box))
        env = np.flatnonzero(~np.asarray(active, bool) & (dist < reach))
        self.local = np.concatenate([act, env])
        self.n_act = act.size
        diam_local = np.ascontiguousarray(diameters[self.local])
        band = interpolate(x_a.ravel(), x_b.ravel(), n_images).reshape(n_images, n, 3)
        self.XL = np.ascontiguousarray(band[1:-1][:, self.local, :])  # (K, n_local, 3), frozen part fixed
        K = self.XL.shape[0]
        self.ffs = [ForceField(diam_local, box, skin=skin) for _ in range(K)]
        ff = ForceField(diameters, box, skin=skin)
        e_full = np.array([ff.energy(band[k]) for k in range(1, n_images - 1)])
        e_local = np.array([self.ffs[k].energy(self.XL[k]) for k in range(K)])
        self.const = e_full - e_local  # per image: all terms that do not involve an active particle
        self.n_calls = 0

    def __call__(self, X):
        K = X.shape[0]
        self.XL[:, : self.n_act] = X.reshape(K, self.n_act, 3)
        E = np.empty(K)
        F = np.empty((K, 3 * self.n_act))
        for k in range(K):
            try:
                e, f = self.ffs[k].energy_forces(self.XL[k])
            except ValueError:  # non-finite energy: run_neb reports a diverged band
                E[k], F[k] = np.nan, np.nan
                continue
            E[k] = e + self.const[k]
            F[k] = f[: self.n_act].ravel()
        self.n_calls += K
        return E, F


def _min_dist_to_set(x, idx, box):
    """Distance of every particle to the nearest particle of idx (minimum image), (N,)."""
    out = np.full(x.shape[0], np.inf)
    for j in idx:
        dx = minimum_image(x - x[j], box)
        np.minimum(out, np.sqrt(np.sum(dx * dx, axis=1)), out=out)
    return out


def select_active(x_a, x_b, box, disp: float, shell: float) -> np.ndarray:
    """Boolean mask: particles displaced more than ``disp`` (sigma) and those within ``shell`` of them."""
    d = np.sqrt(np.sum((x_b - x_a) ** 2, axis=1))
    mobile = np.flatnonzero(d > disp)
    if mobile.size == 0:
        mobile = np.array([int(np.argmax(d))])
    near = _min_dist_to_set(x_a, mobile, np.asarray(box, np.float64)) <= shell
    return near


def active_neb(x_a, x_b, diameters, box, e_a, e_b, glass_opt: GlassOptions, neb_opt: NEBOptions):
    """Relax the active band and return (full band (M, 3N) to start from, info dict)."""
    n = diameters.size
    m = int(neb_opt.images)
    active = select_active(x_a, x_b, box, glass_opt.active_disp, glass_opt.active_shell)
    info = {"n_active": int(active.sum())}
    if active.sum() > 0.5 * n:  # not localised: nothing to gain
        info["active_iter"] = 0
        return None, info
    band_fn = ActiveBand(x_a, x_b, diameters, box, active, m, skin=glass_opt.skin)
    d0 = float(np.linalg.norm(x_b - x_a))
    res = run_neb(x_a[active].ravel(), x_b[active].ravel(), band_fn, e_a, e_b, atom_dim=3, d_scale=d0,
                  options=neb_opt)
    info["active_iter"] = res.n_iter
    info["active_converged"] = res.converged
    if not np.all(np.isfinite(res.band)):
        return None, info
    full = interpolate(x_a.ravel(), x_b.ravel(), m).reshape(m, n, 3)
    full[:, active] = res.band.reshape(m, -1, 3)
    return full.reshape(m, -1), info
