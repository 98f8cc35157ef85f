"""core/runtime/torch_loading.py: where a system BLAS is already among the process's global symbols
(as GDAL puts it there in qgis and qgis_process), torch imported by the plugin still multiplies
with its own BLAS: the same products, bit for bit, as in a process without that BLAS."""

import ctypes.util
import os
import subprocess
import sys

import pytest

from multimodal_siamese.core.runtime import torch_loading

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_PARENT = os.path.join(os.path.dirname(TESTS), ".build", "plugins")
#: Debian's reference BLAS (package libblas3), the libblas.so.3 of Debian 13 without OpenBLAS.
REFERENCE_BLAS = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"

PRODUCTS = """
import ctypes, os, sys
from blas_probe import product_digest
if {blas!r}:
    ctypes.CDLL({blas!r}, mode=os.RTLD_NOW | ctypes.RTLD_GLOBAL)  # as GDAL's link does in QGIS
if {plugin}:
    from multimodal_siamese.core.runtime.torch_loading import import_torch
    import_torch()
    assert sys.getdlopenflags() == os.RTLD_NOW  # Python's default, restored
else:
    import torch
print(product_digest())
"""


def products(blas="", plugin=False, **environment):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_PARENT, TESTS]), **environment)
    done = subprocess.run([sys.executable, "-c", PRODUCTS.format(blas=blas, plugin=plugin)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def system_blas():
    if os.path.exists(REFERENCE_BLAS):
        return REFERENCE_BLAS
    found = ctypes.util.find_library("blas")
    if not found:
        pytest.skip("no system BLAS (libblas.so.3) to put into the global symbols")
    return found


@pytest.mark.skipif(not torch_loading.deepbind_flag(), reason="RTLD_DEEPBIND is glibc Linux's")
def test_torch_keeps_its_own_blas_when_the_process_already_has_another():
    blas = system_blas()
    own = products()
    assert products(blas) != own, "the setup should reproduce the problem: torch on the system BLAS"
    assert products(blas, plugin=True) == own
    # the administrator's way out, should RTLD_DEEPBIND ever not suit a system: the plain import
    assert products(blas, plugin=True, MMSIAM_TORCH_DEEPBIND="0") == products(blas)


def test_a_plain_python_holds_no_global_blas_and_imports_torch_plainly():
    assert not torch_loading.global_blas_loaded()  # numpy and torch keep theirs local


def test_a_torch_already_imported_is_returned_as_it_is(monkeypatch):
    sentinel = object()
    monkeypatch.setitem(sys.modules, "torch", sentinel)
    assert torch_loading.import_torch() is sentinel


def test_other_platforms_import_torch_plainly(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert torch_loading.deepbind_flag() == 0
