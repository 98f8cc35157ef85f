"""Keep ``triton`` out of QGIS: importing it can kill the QGIS desktop (signal 11).

Where it comes from: pip's Linux torch (the CUDA build, the default on PyPI, e.g. torch 2.13 on
Python 3.13) depends on ``triton``. Creating any torch optimiser imports it:
``Optimizer.__init__`` calls ``add_param_group``, which is wrapped by ``torch._disable_dynamo``
(torch/_compile.py); its first call imports ``torch._dynamo``, whose ``utils`` module runs
``if has_triton_package(): import triton`` (torch/_dynamo/utils.py, torch/utils/_triton.py).
``optimizer.step`` goes through ``torch._dynamo`` as well.

Why it kills QGIS: ``triton/_C/libtriton.so`` carries its own statically linked LLVM/MLIR and
exports those symbols. The QGIS desktop has already loaded another LLVM into the process's global
symbol scope (Mesa's OpenGL drivers, e.g. llvmpipe under Xvfb or on a machine without a GPU
driver, link ``libLLVM``): the dynamic linker binds libtriton's LLVM references to that copy, of
another LLVM version, and libtriton's static initialisers crash. ``qgis_process`` (headless,
no OpenGL) has no other LLVM loaded and survives. Checked: in a plain Python, ``import triton``
(3.9) dies with SIGSEGV once Debian 12's ``libLLVM-15`` is loaded RTLD_GLOBAL, and survives when
it is loaded locally; the QGIS 3.22 desktop under Xvfb has ``libLLVM-15`` loaded, QGIS 3.40's
``libLLVM.so.19.1``; there a training with pip's CUDA torch (triton 3.7.1) aborted the desktop
before this guard and completes with it. The same clash is reported for TensorFlow, which
puts its own LLVM in the global scope (tensorflow/tensorflow#124205), and was the subject of
triton-lang/triton#1236.

The plugin needs nothing from triton (it never compiles with ``torch.compile``), and torch runs
normally without it. :func:`install` puts a finder first on ``sys.meta_path`` that refuses
``triton`` and its submodules with an ImportError, which torch treats as "triton not installed".
It is installed when the plugin loads in QGIS and stays for the session: torch imports triton
lazily, at any later optimiser step, so removing it again would reopen the hole.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

BLOCKED = "triton"
REASON = ("triton is not loaded inside QGIS by the Multimodal Siamese Land Cover plugin: its "
          "bundled LLVM can crash the QGIS desktop, and the plugin does not need it")


class _RefusingLoader(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(f"{REASON} (import of '{spec.name}' refused).", name=spec.name)

    def exec_module(self, module):  # never reached: create_module raises
        raise ImportError(REASON, name=module.__name__)


class TritonBlocker(importlib.abc.MetaPathFinder):
    """Refuses ``triton`` and ``triton.*`` with an ImportError.

    ``find_spec`` answers with a spec whose loader raises (rather than raising itself), so that
    ``importlib.util.find_spec("triton")``, which torch.cuda calls while initialising CUDA, does
    not fail; an actual import does."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == BLOCKED or fullname.startswith(BLOCKED + "."):
            return importlib.machinery.ModuleSpec(fullname, _RefusingLoader())
        return None


def installed() -> bool:
    return any(isinstance(finder, TritonBlocker) for finder in sys.meta_path)


def install() -> bool:
    """Put the blocker first on ``sys.meta_path`` (idempotent). Returns False when triton had
    already been imported by someone else: nothing can be done about that any more."""
    if not installed():
        sys.meta_path.insert(0, TritonBlocker())
    return BLOCKED not in sys.modules
