"""Run a Python script inside the real QGIS desktop under Xvfb, with the plugin enabled in a
fresh profile: the one launcher of scripts/screenshots.py and the desktop tests
(tests/plugin/test_desktop*.py, through the ``desktop`` fixture of tests/plugin/conftest.py).

The script (``qgis --code``) writes what it saw as JSON to ``$MMSIAM_SHOT_OUT/seen.json`` and
quits QGIS. A Python error that QGIS would show in its modal stack-trace dialog (a plugin failing
in classFactory, the script itself failing: QGIS 3.22 then waits for a click until the timeout)
ends QGIS at once instead, and :func:`run_desktop` raises :class:`DesktopError` with the
traceback: a start-up script (``PYQGIS_STARTUP``) replaces ``qgis.utils.showException``."""

from __future__ import annotations

import json
import os
import subprocess

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGINS = os.path.join(REPO_ROOT, ".build", "plugins")
ERROR_FILE = "python_error.txt"

# Run by QGIS before it loads any plugin (PYQGIS_STARTUP).
STARTUP = '''import os, traceback
import qgis.utils


def _fail_fast(type, value, tb, msg=None, *args, **kwargs):
    with open(os.path.join(os.environ["MMSIAM_SHOT_OUT"], {error!r}), "w", encoding="utf-8") as handle:
        handle.write((msg or "Python error") + "\\n" + "".join(traceback.format_exception(type, value, tb)))
    os._exit(3)


qgis.utils.showException = _fail_fast
qgis.utils.open_stack_dialog = _fail_fast
'''


class DesktopError(RuntimeError):
    """QGIS wrote no result: it failed to start, crashed, or a Python error stopped it."""


def start_xvfb(size="1280x900x24"):
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display and writes its number to the pipe once ready.
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", size,
                               "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    if not display:
        raise DesktopError("Xvfb did not start")
    return server, f":{display}"


def link_plugin() -> str:
    """QGIS finds the plugin as ``multimodal_siamese`` in .build/plugins (the repository root is
    the plugin folder, whatever the checkout is called)."""
    os.makedirs(PLUGINS, exist_ok=True)
    link = os.path.join(PLUGINS, "multimodal_siamese")
    if not os.path.islink(link):
        os.symlink(os.path.relpath(REPO_ROOT, PLUGINS), link)
    return PLUGINS


def run_desktop(work: str, script: str, pythonpath: list, timeout: int = 480, **env_extra) -> dict:
    """``qgis --code script`` with a fresh profile in ``work`` and PYTHONPATH ``pythonpath`` (a list;
    empty: QGIS's own Python alone). Returns the script's ``seen.json`` (outputs are in
    ``work``/out, QGIS's whole output in ``work``/qgis_output.txt); an exit status other than 0
    after the script wrote it is added as its "error" entry. Raises DesktopError when QGIS wrote
    nothing, with the Python traceback that stopped it if there was one."""
    work = os.fspath(work)
    profile = os.path.join(work, "profiles", "default", "QGIS")
    os.makedirs(profile, exist_ok=True)
    with open(os.path.join(profile, "QGIS3.ini"), "w", encoding="utf-8") as handle:
        handle.write("[PythonPlugins]\nmultimodal_siamese=true\n[qgis]\ncheckVersion=false\n")
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    runtime = os.path.join(work, "runtime")
    os.makedirs(runtime, mode=0o700, exist_ok=True)
    startup = os.path.join(work, "fail_fast_startup.py")
    with open(startup, "w", encoding="utf-8") as handle:
        handle.write(STARTUP.format(error=ERROR_FILE))
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "PYTHONPATH", "PYQGIS_STARTUP")}
    env.update(QGIS_PLUGINPATH=link_plugin(), XDG_RUNTIME_DIR=runtime, MMSIAM_SHOT_OUT=out,
               PYQGIS_STARTUP=startup, **env_extra)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    server, env["DISPLAY"] = start_xvfb()
    try:
        done = subprocess.run(["qgis", "--nologo", "--noversioncheck", "--profiles-path", work,
                               "--code", script], env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        server.terminate()
        server.wait(timeout=10)
    output = done.stdout + done.stderr
    with open(os.path.join(work, "qgis_output.txt"), "w", encoding="utf-8") as handle:
        handle.write(output)  # the whole log, for a crash's backtrace
    error_path = os.path.join(out, ERROR_FILE)
    if os.path.isfile(error_path):
        with open(error_path, encoding="utf-8") as handle:
            raise DesktopError("QGIS stopped on a Python error:\n" + handle.read())
    seen_path = os.path.join(out, "seen.json")
    if not os.path.isfile(seen_path):
        raise DesktopError(f"QGIS wrote nothing (exit status {done.returncode}):\n" + output[-6000:])
    with open(seen_path, encoding="utf-8") as handle:
        seen = json.load(handle)
    if done.returncode != 0 and "error" not in seen:  # a crash after some load paths
        seen["error"] = f"QGIS exited with code {done.returncode}:\n" + output[-3000:]
    return seen
