#!/usr/bin/env python3
"""Build the plugin zip for the QGIS plugin repository: `make package` or
`scripts/package.py [--output multimodal_siamese.zip]`.

Only files git tracks go in, under one folder `multimodal_siamese/` (the zip's name = the folder's
name, as plugins.qgis.org requires); development files (tests, scripts, CI, benchmarks) stay out."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_NAME = "multimodal_siamese"

# Top-level folders and files that are for developers, not for QGIS.
EXCLUDED_DIRS = ("tests/", "benchmarks/", "scripts/", "docs/", ".ci/", ".qgis-settings/", ".github/")
EXCLUDED_FILES = {"Makefile", "bootstrap.sh", "pytest.ini", "requirements-dev.txt", ".gitignore", ".gitattributes"}


def tracked_files(root: str = ROOT) -> list:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout
    return sorted(name for name in listing.decode("utf-8").split("\0") if name)


def included(name: str) -> bool:
    parts = name.split("/")
    return not (name.startswith(EXCLUDED_DIRS) or name in EXCLUDED_FILES
                or "__pycache__" in parts or name.endswith((".pyc", ".pyo"))
                or any(part.startswith(".") for part in parts))


def build(output: str, root: str = ROOT) -> list:
    """Write the zip to ``output``; returns the archive names written."""
    if os.path.splitext(os.path.basename(output))[0] != PLUGIN_NAME:
        raise SystemExit(f"the zip must be named {PLUGIN_NAME}.zip (the plugin folder's name)")
    names = []
    tmp = output + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in tracked_files(root):
            path = os.path.join(root, name)
            # A tracked file deleted in the working tree, or a link: nothing to ship.
            if not included(name) or os.path.islink(path) or not os.path.isfile(path):
                continue
            arcname = f"{PLUGIN_NAME}/{name}"
            archive.write(path, arcname)
            names.append(arcname)
    os.replace(tmp, output)  # a failed build leaves no half-written zip
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(ROOT, f"{PLUGIN_NAME}.zip"))
    args = parser.parse_args(argv)
    names = build(args.output)
    print(f"{args.output}: {len(names)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
