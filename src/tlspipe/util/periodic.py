"""Geometry of the periodic orthorhombic box: edge lengths as a (3,) array, the minimum image of
displacements and the wrap of positions into the box centred at the origin.

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


@njit(cache=True, inline="always", error_model="numpy")
def min_image(d, length):
    """Minimum image of one displacement coordinate d along an edge of the given length (numba kernels)."""
    return d - length * np.rint(d / length)
