#!/usr/bin/env python3
"""Real QGIS 3.22 desktop under Xvfb, the plugin enabled in a fresh profile, running
tests/plugin/desktop_screenshot_script.py: it loads the classified map by every path and takes the
README's screenshots. This script copies them to docs/ (rerun it after a change to the dialogs or
the styles):

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshot_*.png

tests/plugin/test_desktop.py runs the same script to check what the desktop shows; both start
QGIS through scripts/qgis_desktop.py."""

import os
import shutil
import sys
import sysconfig
import tempfile

from qgis_desktop import REPO_ROOT, DesktopError, run_desktop

SCRIPT = os.path.join(REPO_ROOT, "tests", "plugin", "desktop_screenshot_script.py")
DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "tahoe"))


def run_screenshot_script(work: str, data: str = DATA, timeout: int = 480) -> dict:
    """The screenshot script in the desktop (torch and scikit-learn from the venv); what it saw."""
    return run_desktop(work, SCRIPT, [sysconfig.get_paths()["purelib"]], timeout,
                       MMSIAM_SHOT_REPO=REPO_ROOT, MMSIAM_SHOT_DATA=data)


def main():
    work = tempfile.mkdtemp(prefix="mmsiam-shots-")
    try:
        seen = run_screenshot_script(work)
    except DesktopError as exc:
        sys.exit(str(exc))
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
