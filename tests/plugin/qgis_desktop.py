"""Run a script inside the real QGIS desktop under Xvfb (a fresh profile with the plugin enabled)."""

import json
import os
import shutil
import subprocess

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_xvfb():
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display and writes its number to the pipe once ready.
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x900x24",
                               "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    assert display, "Xvfb did not start"
    return server, f":{display}"


def run_desktop(tmp_path, script, pythonpath, timeout=240, **env_extra):
    """``qgis --code script`` with PYTHONPATH ``pythonpath`` (a list; empty: QGIS's own Python
    alone). The script writes ``$MMSIAM_SHOT_OUT/seen.json``; returns it (the test fails on an
    "error" entry or a missing file, with QGIS's output)."""
    if not (shutil.which("qgis") and shutil.which("Xvfb")):
        pytest.skip("QGIS desktop or Xvfb not installed")
    profile = tmp_path / "profiles" / "default" / "QGIS"
    profile.mkdir(parents=True)
    (profile / "QGIS3.ini").write_text("[PythonPlugins]\nmultimodal_siamese=true\n"
                                       "[qgis]\ncheckVersion=false\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "PYTHONPATH")}
    env.update(QGIS_PLUGINPATH=os.path.join(REPO_ROOT, ".build", "plugins"),  # made by tests/conftest.py
               XDG_RUNTIME_DIR=str(runtime), MMSIAM_SHOT_OUT=str(out), **env_extra)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    server, env["DISPLAY"] = start_xvfb()
    try:
        done = subprocess.run(["qgis", "--nologo", "--noversioncheck", "--profiles-path", str(tmp_path),
                               "--code", script], env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        server.terminate()
        server.wait(timeout=10)
    seen_path = out / "seen.json"
    assert seen_path.is_file(), done.stdout + done.stderr
    seen = json.loads(seen_path.read_text(encoding="utf-8"))
    assert "error" not in seen, seen.get("error")
    return seen
