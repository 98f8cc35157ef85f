#!/usr/bin/env python3
"""Real QGIS 3.22 desktop under Xvfb, the plugin enabled in a fresh profile, running
tests/plugin/desktop_screenshot_script.py: it loads the classified map by every path and takes the
README's screenshots. This script copies them to docs/ (rerun it after a change to the dialogs or
the styles):

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshot_*.png

tests/plugin/test_desktop.py uses run_desktop() to check what the desktop shows."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO_ROOT, "tests", "plugin", "desktop_screenshot_script.py")
DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "tahoe"))


def start_xvfb(size="1280x900x24"):
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display and writes its number to the pipe once ready.
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", size,
                               "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    if not display:
        raise RuntimeError("Xvfb did not start")
    return server, f":{display}"


def run_desktop(work: str, data: str = DATA, extra_env: dict | None = None, timeout: int = 480) -> dict:
    """Start QGIS desktop with the plugin in a fresh profile under ``work``, run the script,
    return what it saw (seen.json); outputs and screenshots are in ``work``/out."""
    profile = os.path.join(work, "profiles", "default", "QGIS")
    os.makedirs(profile, exist_ok=True)
    with open(os.path.join(profile, "QGIS3.ini"), "w", encoding="utf-8") as handle:
        handle.write("[PythonPlugins]\nmultimodal_siamese=true\n[qgis]\ncheckVersion=false\n")
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    runtime = os.path.join(work, "runtime")
    os.makedirs(runtime, mode=0o700, exist_ok=True)
    plugins = os.path.join(REPO_ROOT, ".build", "plugins")
    os.makedirs(plugins, exist_ok=True)
    link = os.path.join(plugins, "multimodal_siamese")
    if not os.path.islink(link):
        os.symlink(os.path.relpath(REPO_ROOT, plugins), link)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH")}
    env.update(QGIS_PLUGINPATH=plugins,
               PYTHONPATH=sysconfig.get_paths()["purelib"],  # torch and scikit-learn from the venv
               XDG_RUNTIME_DIR=runtime, MMSIAM_SHOT_REPO=REPO_ROOT, MMSIAM_SHOT_DATA=data, MMSIAM_SHOT_OUT=out, **(extra_env or {}))
    server, env["DISPLAY"] = start_xvfb()
    try:
        done = subprocess.run(["qgis", "--nologo", "--noversioncheck", "--profiles-path", work,
                               "--code", SCRIPT], env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        server.terminate()
        server.wait(timeout=10)
    with open(os.path.join(work, "qgis_output.txt"), "w", encoding="utf-8") as handle:
        handle.write(done.stdout + done.stderr)  # the whole log, for a crash's backtrace
    seen_path = os.path.join(out, "seen.json")
    if not os.path.isfile(seen_path):
        raise RuntimeError("QGIS wrote nothing:\n" + done.stdout + done.stderr)
    with open(seen_path, encoding="utf-8") as handle:
        seen = json.load(handle)
    if done.returncode != 0 and "error" not in seen:  # a crash after some load paths
        seen["error"] = f"QGIS exited with code {done.returncode}:\n" + (done.stdout + done.stderr)[-3000:]
    return seen


def main():
    work = tempfile.mkdtemp(prefix="mmsiam-shots-")
    seen = run_desktop(work)
    if "error" in seen:
        sys.exit(seen["error"])
    docs = os.path.join(REPO_ROOT, "docs")
    os.makedirs(docs, exist_ok=True)
    for name, path in seen["screenshots"].items():
        target = os.path.join(docs, f"screenshot_{name}.png")
        shutil.copyfile(path, target)
        print(f"wrote {target}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
