"""Import torch so that its matrix products run on its own BLAS, also inside QGIS.

The problem: torch's Linux wheels carry their own BLAS (MKL on x86-64) and call it through the
standard Fortran names (``sgemm_``). The QGIS programs (``qgis`` and ``qgis_process``) link GDAL,
and Debian's and Ubuntu's GDAL links Armadillo and with it the system's ``libblas.so.3``, so that
library is in the process's *global* symbols before Python starts. A library loaded later, as
torch is, has its ``sgemm_`` calls bound to the first definition in the global scope: the system
BLAS. Where that is the reference BLAS (Debian 13's default when OpenBLAS is not installed),
every fully connected layer runs unoptimised and single-threaded. Measured on this project's
machine: a 4096 × 512 → 2048 linear layer took 2.4 s instead of 0.033 s in Debian 13's venv, and
the demo's pretraining through ``qgis_process`` took 7 times as long as on Debian 12, whose
``libblas.so.3`` is OpenBLAS (docs/compatibility.md). Even with OpenBLAS, the products differ in
rounding from torch's own, so the same SEED gave another model through ``qgis_process`` than
through ``processing.run`` in a Python script (PyQGIS loads QGIS's libraries locally, and torch
uses its own BLAS there).

The fix: import torch with ``RTLD_DEEPBIND``, which makes each library of torch resolve its
symbols in itself and its own dependencies before the global scope. Checked: with the reference
BLAS loaded globally first, the layer above takes 0.035 s again and its products equal, bit for
bit, those of a process without it. ``RTLD_DEEPBIND`` is glibc's; elsewhere (macOS, Windows,
musl) torch is imported as usual, and there the QGIS libraries do not export a BLAS in this way.

It is done only where it is needed: where a BLAS is already among the process's global symbols
(as in ``qgis`` and ``qgis_process``); a plain Python keeps the plain import. Only the first import
counts: where torch is already loaded (a QGIS Python console import, another plugin),
:func:`import_torch` returns it as it is. ``MMSIAM_TORCH_DEEPBIND=0`` in the environment turns it
off, should a library of some system ever not work with it (none seen: Debian 12, 13 and unstable,
torch's CPU and CUDA builds; the CUDA build also on an H100 GPU, with the same results as a plain
import: ``benchmarks/cuda_deepbind_check.py``).
"""

from __future__ import annotations

import ctypes
import os
import sys

#: The BLAS entry points torch calls (the Fortran and the C interface).
BLAS_SYMBOLS = ("sgemm_", "cblas_sgemm")


def deepbind_flag() -> int:
    """``os.RTLD_DEEPBIND`` where the platform's loader has it (glibc Linux), else 0."""
    if not sys.platform.startswith("linux") or not hasattr(sys, "setdlopenflags"):
        return 0
    return getattr(os, "RTLD_DEEPBIND", 0)


def global_blas_loaded() -> bool:
    """A BLAS is already among the process's global symbols (where torch's calls would bind)."""
    try:
        process = ctypes.CDLL(None)
    except (OSError, TypeError):  # TypeError: Windows has no handle of the process's own symbols
        return False
    return any(hasattr(process, name) for name in BLAS_SYMBOLS)


def import_torch():
    """Import torch (once per process) so that it uses its own BLAS; returns the module.

    Fails as ``import torch`` does (ImportError, OSError) where torch is missing or broken."""
    if "torch" in sys.modules:
        return sys.modules["torch"]
    deepbind = deepbind_flag()
    if not deepbind or os.environ.get("MMSIAM_TORCH_DEEPBIND") == "0" or not global_blas_loaded():
        import torch

        return torch
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | deepbind)
    try:
        import torch
    finally:
        sys.setdlopenflags(flags)
    return torch
