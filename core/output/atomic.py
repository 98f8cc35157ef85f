"""Write outputs to a temporary file beside the target and rename only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile

from ...models.files import replace_when_complete
from ..errors import InputError


def check_output_folder(path: str, what: str = "output"):
    """Refuse, in one sentence, an output path that cannot be written.

    Writability is probed by creating (and removing) a temporary file in the folder: permission
    bits say nothing for root, nor for read-only or virtual file systems."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"The {what} '{path}' cannot be written: '{folder}' is a file, not a "
                         "folder. Choose a file name inside an existing folder.")
    if not os.path.isdir(folder):
        raise InputError(f"The folder of the {what} '{path}' does not exist. Create it or choose "
                         "another location.")
    if os.path.isdir(path):
        raise InputError(f"The {what} '{path}' is a folder. Give a file name inside it.")
    try:
        with tempfile.NamedTemporaryFile(prefix=".write-test.", dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"The folder of the {what} '{path}' is not writable ({exc.strerror or exc}). "
                         "Choose a folder you can write to.") from None


@contextlib.contextmanager
def atomic_output(path: str, what: str = "output", suffix: str | None = None):
    """Yields a temporary path in the target's folder; on success it replaces ``path``.

    The file gets the user's umask like any other QGIS output (see ``models.files``). On any exception (cancel included) the temporary file is removed and an existing file at
    ``path`` is left untouched."""
    check_output_folder(path, what)
    with replace_when_complete(path, suffix or os.path.splitext(path)[1] or ".tmp") as tmp:
        yield tmp
