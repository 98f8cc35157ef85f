"""Real QGIS desktop under Xvfb with the plugin enabled in a fresh profile: menu and toolbar are
there, classify runs, the result shows on the canvas with its class names, and a screenshot is
saved. MMSIAM_UPDATE_SCREENSHOT=1 copies it to docs/screenshot_classify.png (the README's)."""

import json
import os
import shutil
import subprocess
import sysconfig

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "desktop_screenshot_script.py")


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


def test_desktop_classify_shows_a_styled_map_and_saves_a_screenshot(data_dir, tmp_path):
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
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH")}
    env.update(QGIS_PLUGINPATH=os.path.join(REPO_ROOT, ".build", "plugins"),  # made by tests/conftest.py
               PYTHONPATH=sysconfig.get_paths()["purelib"],  # torch and scikit-learn from the venv
               XDG_RUNTIME_DIR=str(runtime), MMSIAM_SHOT_DATA=os.path.join(data_dir, "tahoe"),
               MMSIAM_SHOT_OUT=str(out))
    server, env["DISPLAY"] = start_xvfb()
    try:
        done = subprocess.run(["qgis", "--nologo", "--noversioncheck", "--profiles-path", str(tmp_path),
                               "--code", SCRIPT], env=env, capture_output=True, text=True, timeout=240)
    finally:
        server.terminate()
        server.wait(timeout=10)
    seen_path = out / "seen.json"
    assert seen_path.is_file(), done.stdout + done.stderr
    seen = json.loads(seen_path.read_text(encoding="utf-8"))
    assert "error" not in seen, seen.get("error")
    assert "multimodal_siamese" in seen["active_plugins"]
    assert seen["menu_actions"] == ["mmsiam_classify", "mmsiam_embed", "mmsiam_evaluate", "mmsiam_pretrain",
                                   "mmsiam_suggestsites", "mmsiam_trainclassifier"]
    assert seen["toolbar_button"]
    assert seen["renderer"] == "paletted"
    assert seen["classes"] == ["Non-vegetation", "Shrub", "Tree"]
    screenshot = seen["screenshot"]
    with open(screenshot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("MMSIAM_UPDATE_SCREENSHOT") == "1":
        os.makedirs(os.path.join(REPO_ROOT, "docs"), exist_ok=True)
        shutil.copyfile(screenshot, os.path.join(REPO_ROOT, "docs", "screenshot_classify.png"))
