"""core/runtime/triton_guard.py: torch's optimisers import triton (whose LLVM can crash the QGIS desktop);
with the guard installed they never do, and torch trains as without triton."""

import os
import subprocess
import sys

from triton_probe import make_triton_stub

REPO_PARENT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           ".build", "plugins")

TRAIN = """
import importlib.util, sys
if {guard}:
    from multimodal_siamese.core.runtime import triton_guard
    assert triton_guard.install()
import torch
model = torch.nn.Linear(3, 2)
optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
for _ in range(2):
    optimiser.zero_grad()
    model(torch.ones(4, 3)).sum().backward()
    optimiser.step()
if {guard}:
    assert importlib.util.find_spec("triton") is not None  # torch.cuda's probe must not fail
    try:
        import triton.language
    except ImportError as exc:
        assert "crash the QGIS desktop" in str(exc)
    else:
        raise AssertionError("triton was imported")
print("trained", "triton" in sys.modules)
"""


def train_with_stub(tmp_path, guard):
    stub, log = make_triton_stub(tmp_path / "stub")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([stub, REPO_PARENT]))
    done = subprocess.run([sys.executable, "-c", TRAIN.format(guard=guard)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trained False" in done.stdout
    return open(log, encoding="utf-8").read() if os.path.exists(log) else ""


def test_creating_an_optimiser_imports_triton_without_the_guard(tmp_path):
    """The probe works: plain torch imports an installed triton from the optimiser."""
    imported = train_with_stub(tmp_path, guard=False)
    assert "torch/optim/" in imported and "torch/_dynamo/" in imported


def test_with_the_guard_torch_trains_and_never_imports_triton(tmp_path):
    assert train_with_stub(tmp_path, guard=True) == ""


IDEMPOTENT = """
import sys
from multimodal_siamese.core.runtime import triton_guard
assert "triton" not in sys.modules
assert triton_guard.install() and triton_guard.install()
assert sum(isinstance(f, triton_guard.TritonBlocker) for f in sys.meta_path) == 1
assert isinstance(sys.meta_path[0], triton_guard.TritonBlocker)
try:
    import triton  # noqa: F401
except ImportError as exc:
    assert "crash the QGIS desktop" in str(exc), exc
else:
    raise AssertionError("triton was imported")
print("refused")
"""


def test_install_is_idempotent_and_refuses_an_installed_triton(tmp_path):
    """In a fresh interpreter, as when QGIS loads the plugin: a triton is importable there (the
    stand-in; pip's CUDA torch brings a real one too), one blocker, first, and it refuses triton.

    Not in this pytest process: other tests create torch optimisers without the guard, which with
    a real triton installed (pip's CUDA torch) has already imported it here; a module already in
    ``sys.modules`` cannot be refused any more (see the next test)."""
    stub, log = make_triton_stub(tmp_path / "stub")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([stub, REPO_PARENT]))
    done = subprocess.run([sys.executable, "-c", IDEMPOTENT], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "refused" in done.stdout, done.stdout + done.stderr
    assert not os.path.exists(log)  # the stand-in's code never ran


def test_install_says_when_triton_was_already_imported(monkeypatch):
    """Too late is reported, not hidden: install() returns False when triton is already loaded
    (the plugin installs the guard in classFactory and again before any torch work)."""
    from multimodal_siamese.core.runtime import triton_guard

    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setitem(sys.modules, "triton", object())
    assert triton_guard.install() is False
    assert isinstance(sys.meta_path[0], triton_guard.TritonBlocker)
