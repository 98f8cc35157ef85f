"""Whole-or-nothing file writing shared by every output of the plugin (no torch, no QGIS).

A temporary file is created beside the target and renamed over it only when complete. It is
created with mode ``0o666`` so that the kernel applies the user's umask, exactly as for any other
file QGIS or GDAL writes (``tempfile.mkstemp`` would give a private ``0600`` that survives the
rename, and a colleague, a shared drive or a map server could not read the output). The umask is
never read or changed (``os.umask`` is process-wide and not thread-safe: runs are background
tasks).
"""

from __future__ import annotations

import contextlib
import os
import secrets


def create_sibling_temporary(path: str, suffix: str = ".tmp") -> str:
    """Create an empty, new file in ``path``'s folder, mode ``0o666 & ~umask``; return its path."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside '{path}'")


@contextlib.contextmanager
def replace_when_complete(path: str, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On any exception (cancel included) the temporary file is removed and an existing file at
    ``path`` is left untouched."""
    tmp = create_sibling_temporary(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
