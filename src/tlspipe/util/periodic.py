"""Geometry of the periodic orthorhombic box: edge lengths as a (3,) array, the minimum image of
displacements, the wrap of positions into the box centred at the origin, and the global translation of a
set of displacements (two inherent structures are the same minimum up to a rigid translation).

The numpy functions serve ordinary code; :func:`min_image` is the same minimum image for one coordinate,
compiled for the numba kernels (inlined, so a kernel compiles it with its own flags)."""

from __future__ import annotations

import numpy as np
from numba import njit


def box3(box) -> np.ndarray:
    """Box edge lengths as a new float64 array (3,); a scalar is a cube."""
    return np.broadcast_to(np.asarray(box, np.float64), (3,)).copy()


def minimum_image(d, box) -> np.ndarray:
    """Displacements d (..., 3) reduced to their nearest periodic image: d - box * rint(d / box)."""
    return d - box * np.rint(d / box)


def wrap(x, box) -> np.ndarray:
    """Positions x (..., 3) wrapped into the box centred at the origin: x - box * floor(x / box + 1/2)."""
    return x - box * np.floor(x / box + 0.5)


def translation(d, box) -> np.ndarray:
    """The global translation (3,) of minimum-image displacements d (N, 3): their mean, taken relative to the
    first particle's displacement (t0 + mean of the minimum image of d - t0), so that a translation of any
    size is found whole as long as the particles' displacements relative to it stay below half the box.
    A rigid translation of every particle by t gives t; displacements of a local rearrangement in a
    frame where the centre of mass does not move give their mean, ~0."""
    d = np.asarray(d, np.float64).reshape(-1, 3)
    if not len(d):
        return np.zeros(3)
    t0 = d[0]
    return t0 + minimum_image(d - t0, box).mean(axis=0)


def without_translation(d, box) -> np.ndarray:
    """Minimum-image displacements d (N, 3) with their global :func:`translation` removed (minimum image
    again): what two inherent structures differ by once aligned."""
    return minimum_image(d - translation(d, box), box)


@njit(cache=True, inline="always", error_model="numpy")
def min_image(d, length):
    """Minimum image of one displacement coordinate d along an edge of the given length (numba kernels)."""
    return d - length * np.rint(d / length)
