"""Optional heavy dependencies: report what is missing, and install it (QGIS-free helpers).

The desktop installer (gui/dependencies.py) runs ``pip install --target`` into a folder of the
QGIS profile (``dependencies_folder``) rather than ``--user``: Debian/Ubuntu's Python refuses
``--user`` installs (PEP 668, externally managed), the folder survives plugin upgrades, and it
touches no other Python program. The plugin appends that folder to ``sys.path`` at load time
(``activate_folder``), after QGIS's own packages, so it never shadows what QGIS ships.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import site
import subprocess
import sys

# Pinned like requirements.txt; the import name differs from the pip name for scikit-learn.
REQUIRED = {"torch": "torch==2.13.0", "sklearn": "scikit-learn==1.6.1"}


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except (ImportError, OSError):  # OSError: a broken binary install (missing DLL / .so)
        return False
    return True


def _findable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing_packages(quick: bool = False) -> list:
    """pip names of the required packages that cannot be imported.

    ``quick`` only looks for them (no import): importing torch takes seconds, too long for
    QGIS start-up; the algorithms do the full check before they run."""
    check = _findable if quick else _importable
    return [pip_name for module, pip_name in REQUIRED.items() if not check(module)]


def find_python(prefix: str | None = None, executable: str | None = None,
                platform: str | None = None, version: tuple | None = None,
                exists=os.path.isfile, which=shutil.which) -> str | None:
    """The Python interpreter of the running Python, or None.

    Inside QGIS ``sys.executable`` is often the QGIS binary (Linux, macOS) or qgis-bin.exe
    (Windows), so look beside ``sys.prefix`` first: ``<prefix>/bin/python3.X`` on Linux/macOS,
    ``<prefix>\\python.exe`` on Windows (OSGeo4W's apps\\PythonXY)."""
    prefix = sys.prefix if prefix is None else prefix
    executable = sys.executable if executable is None else executable
    platform = sys.platform if platform is None else platform
    major, minor = (version or sys.version_info)[:2]
    if platform.startswith("win"):
        candidates = [os.path.join(prefix, "python.exe"), os.path.join(prefix, "python3.exe")]
    else:
        candidates = [os.path.join(prefix, "bin", f"python{major}.{minor}"),
                      os.path.join(prefix, "bin", "python3"), os.path.join(prefix, "bin", "python")]
    if executable and os.path.basename(executable).lower().startswith("python"):
        candidates.append(executable)
    for candidate in candidates:
        if exists(candidate):
            return candidate
    return which(f"python{major}.{minor}") or which("python3")


def install_command(packages: list | None = None) -> str:
    python = find_python() or "python3"
    return f"{python} -m pip install --user {' '.join(packages or REQUIRED.values())}"


def missing_packages_message() -> str:
    missing = missing_packages()
    if not missing:
        return ""
    return ("This algorithm needs the Python packages " + ", ".join(missing) + ", which are not "
            "installed in the Python that QGIS uses. Install them with:  " + install_command(missing)
            + "  (on Windows, run it in the OSGeo4W Shell), then restart QGIS. In QGIS desktop, "
            "the plugin's 'Install dependencies' button does this for you.")


# -- the desktop installer's folder and pip call -------------------------------------------------

def dependencies_folder(settings_dir: str) -> str:
    """Where the desktop installer puts packages: inside the QGIS profile (``settings_dir`` is
    QgsApplication.qgisSettingsDirPath()), outside the plugin folder so upgrades keep it."""
    return os.path.join(settings_dir, "python", "dependencies", "multimodal_siamese")


def activate_folder(folder: str) -> bool:
    """Make packages installed in ``folder`` importable (appended: QGIS's own packages win)."""
    if not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        site.addsitedir(folder)  # appends, and honours .pth files
    importlib.invalidate_caches()
    return True


def pip_install_args(python: str, folder: str, packages: list | None = None) -> list:
    return [python, "-m", "pip", "install", "--target", folder, "--upgrade", "--no-input",
            "--disable-pip-version-check", "--progress-bar", "off", *(packages or REQUIRED.values())]


def run_pip(args: list, on_line=None, is_cancelled=None, poll_s: float = 0.2) -> tuple:
    """Run pip (``args`` from pip_install_args) → (return code or None when cancelled, output).

    ``on_line`` gets each output line (progress); ``is_cancelled`` is polled and ends pip."""
    import threading

    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", stdin=subprocess.DEVNULL)
    lines = []

    def read():
        for line in process.stdout:
            lines.append(line.rstrip())
            if on_line is not None:
                on_line(line.rstrip())

    # A reader thread, so that cancelling does not wait for pip's next line.
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while reader.is_alive():
        if is_cancelled is not None and is_cancelled():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            reader.join(timeout=5)
            return None, "\n".join(lines)
        reader.join(timeout=poll_s)
    return process.wait(), "\n".join(lines)


def pip_progress(line: str, collected: int) -> tuple:
    """A rough percentage from pip's output: (percent or None, packages collected so far)."""
    text = line.strip()
    if text.startswith("Collecting "):
        collected += 1
        return min(10 + 5 * collected, 70), collected
    if text.startswith("Installing collected packages"):
        return 80, collected
    if text.startswith("Successfully installed"):
        return 100, collected
    return None, collected
