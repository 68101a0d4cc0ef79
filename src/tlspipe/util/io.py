"""Atomic file writes: a file is written under a temporary name in its own directory and renamed onto its
final name only when complete, so a reader (or a rerun after a kill) never sees a half-written file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield ``<path><suffix>`` (same directory) to write to; when the block ends without an exception it is
    renamed onto ``path`` (``os.replace``), else it is removed and the exception propagates.

    The parent directory is not created here.  ``suffix`` must keep any ending that a writer insists on (e.g.
    ``.tmp.npz`` for ``np.savez``, which appends ``.npz`` to a name without it).
    """
    path = Path(path)
    tmp = path.with_name(path.name + suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_parquet(df, path) -> Path:
    """Write the DataFrame ``df`` to ``path`` as Parquet, without its index, atomically (see
    :func:`atomic_path`); the parent directory is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path
