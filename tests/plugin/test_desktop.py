"""Real QGIS desktop under Xvfb with the plugin enabled in a fresh profile: menu and toolbar are
there, classify runs, the result shows on the canvas with its class names, and a screenshot is
saved. MMSIAM_UPDATE_SCREENSHOT=1 copies it to docs/screenshot_classify.png (the README's)."""

import os
import shutil
import sysconfig

from qgis_desktop import REPO_ROOT, run_desktop

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "desktop_screenshot_script.py")


def test_desktop_classify_shows_a_styled_map_and_saves_a_screenshot(data_dir, tmp_path):
    seen = run_desktop(tmp_path, SCRIPT, [sysconfig.get_paths()["purelib"]],  # torch, sklearn: the venv's
                       MMSIAM_SHOT_DATA=os.path.join(data_dir, "tahoe"))
    assert "multimodal_siamese" in seen["active_plugins"]
    assert seen["menu_actions"] == ["mmsiam_classify", "mmsiam_evaluate", "mmsiam_pretrain", "mmsiam_trainclassifier"]
    assert seen["toolbar_button"]
    assert seen["renderer"] == "paletted"
    assert seen["classes"] == ["Non-vegetation", "Shrub", "Tree"]
    screenshot = seen["screenshot"]
    with open(screenshot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("MMSIAM_UPDATE_SCREENSHOT") == "1":
        os.makedirs(os.path.join(REPO_ROOT, "docs"), exist_ok=True)
        shutil.copyfile(screenshot, os.path.join(REPO_ROOT, "docs", "screenshot_classify.png"))
