"""Write outputs to a temporary file beside the target and rename only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile

from .errors import InputError


def check_output_folder(path: str, what: str = "output"):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"The folder of the {what} '{path}' does not exist. Create it or choose "
                         "another location.")
    if not os.access(folder, os.W_OK):
        raise InputError(f"The folder of the {what} '{path}' is not writable. Choose a folder "
                         "you can write to.")


@contextlib.contextmanager
def atomic_output(path: str, what: str = "output", suffix: str | None = None):
    """Yields a temporary path in the target's folder; on success it replaces ``path``.

    On any exception (cancel included) the temporary file is removed and an existing file at
    ``path`` is left untouched."""
    check_output_folder(path, what)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=suffix or os.path.splitext(base)[1] or ".tmp",
                               dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
