"""Optional heavy dependencies: report what is missing and how to install it."""

from __future__ import annotations

import importlib
import sys

# Pinned like requirements.txt; the import name differs from the pip name for scikit-learn.
REQUIRED = {"torch": "torch==2.13.0", "sklearn": "scikit-learn==1.6.1"}


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except (ImportError, OSError):  # OSError: a broken binary install (missing DLL / .so)
        return False
    return True


def missing_packages() -> list:
    return [pip_name for module, pip_name in REQUIRED.items() if not _importable(module)]


def install_command(packages: list | None = None) -> str:
    python = sys.executable or "python3"
    if python.endswith(("qgis", "qgis_process.bin", "qgis-bin", "qgis.exe")):
        python = "python3"  # inside QGIS sys.executable may be the QGIS binary itself
    return f"{python} -m pip install --user {' '.join(packages or REQUIRED.values())}"


def missing_packages_message() -> str:
    missing = missing_packages()
    if not missing:
        return ""
    return ("This algorithm needs the Python packages " + ", ".join(missing) + ", which are not "
            "installed in the Python that QGIS uses. Install them with:  " + install_command(missing)
            + "  (on Windows, run it in the OSGeo4W Shell), then restart QGIS.")
