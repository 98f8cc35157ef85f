"""A stand-in ``triton`` package for tests: importing it records where from, then fails as an
absent triton would (so a run goes on and the test can say who imported it)."""

import os

STUB = '''import os, traceback
with open({log!r}, "a", encoding="utf-8") as handle:
    handle.write("".join(traceback.format_stack()) + "\\n")
raise ImportError("stand-in triton of the tests (its import was recorded)")
'''


def make_triton_stub(folder) -> tuple:
    """Write ``<folder>/triton/__init__.py``; returns (folder for sys.path/PYTHONPATH, log path)."""
    folder = os.fspath(folder)
    log = os.path.join(folder, "triton_imported.log")
    os.makedirs(os.path.join(folder, "triton"), exist_ok=True)
    with open(os.path.join(folder, "triton", "__init__.py"), "w", encoding="utf-8") as handle:
        handle.write(STUB.format(log=log))
    return folder, log
