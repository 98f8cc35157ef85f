"""Shared test set-up: import the repository root as the package ``multimodal_siamese``."""

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_PARENT = os.path.join(REPO_ROOT, ".build", "plugins")
DATA_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data"))


def _link_plugin():
    # The repository root *is* the plugin folder; QGIS and Python need it named multimodal_siamese.
    os.makedirs(PLUGIN_PARENT, exist_ok=True)
    link = os.path.join(PLUGIN_PARENT, "multimodal_siamese")
    if not os.path.islink(link):
        os.symlink(os.path.relpath(REPO_ROOT, PLUGIN_PARENT), link)
    if PLUGIN_PARENT not in sys.path:
        sys.path.insert(0, PLUGIN_PARENT)


_link_plugin()


@pytest.fixture(scope="session")
def data_dir():
    """The real sample data in ../shared/data (skipped with a reason when absent)."""
    if not os.path.isdir(DATA_DIR):
        pytest.skip(f"real sample data not found at {DATA_DIR} (the project's shared/data folder)")
    return DATA_DIR
