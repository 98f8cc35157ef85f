"""Shared test set-up: import the repository root as the package ``multimodal_siamese``."""

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data"))
sys.path.insert(0, os.path.join(REPO_ROOT, "scripts"))  # qgis_desktop, screenshots
from qgis_desktop import link_plugin  # noqa: E402

# The repository root *is* the plugin folder; QGIS and Python need it named multimodal_siamese.
PLUGIN_PARENT = link_plugin()
if PLUGIN_PARENT not in sys.path:
    sys.path.insert(0, PLUGIN_PARENT)


@pytest.fixture(scope="session")
def data_dir():
    """The real sample data in ../shared/data (skipped with a reason when absent)."""
    if not os.path.isdir(DATA_DIR):
        pytest.skip(f"real sample data not found at {DATA_DIR} (the project's shared/data folder)")
    return DATA_DIR
