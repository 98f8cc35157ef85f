"""QGIS-level fixtures: the plugin loaded into pytest-qgis's QGIS, and qgis_process runs."""

import json
import os
import shutil
import subprocess

import pytest
import qgis_desktop  # scripts/qgis_desktop.py, on sys.path from tests/conftest.py
from qgis.core import QgsApplication

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QGIS_PROCESS = os.path.join(REPO_ROOT, "scripts", "qgis_process")
os.environ.setdefault("QGIS_PROCESS_SCRIPT", QGIS_PROCESS)


@pytest.fixture(scope="session")
def plugin(qgis_processing, qgis_iface):
    """The plugin as QGIS loads it: classFactory → initProcessing (as headless QGIS does)."""
    import multimodal_siamese

    instance = multimodal_siamese.classFactory(qgis_iface)
    instance.initProcessing()
    yield instance
    instance.unload()


@pytest.fixture
def provider(plugin):
    """The registered provider, looked up for each test: a test that unloads and reloads the
    plugin (test_plugin.py) replaces it, and a kept reference would point to a deleted object."""
    return QgsApplication.processingRegistry().providerById("mmsiam")


@pytest.fixture(scope="session")
def tahoe(data_dir):
    """The real Lake Tahoe data: aerial image, LiDAR surface, training points and polygons.

    ``rasters``: the two raster parameters alone (the algorithms' MULTISPECTRAL and SAR slots);
    ``LABELS``: the points (class field SPECIES)."""
    d = os.path.join(data_dir, "tahoe")
    rasters = {"MULTISPECTRAL": os.path.join(d, "tahoe_highrez.tif"),
               "SAR": os.path.join(d, "tahoe_lidar_highesthit.tif")}
    return dict(rasters, rasters=rasters, LABELS=os.path.join(d, "tahoe_training_points.gpkg"),
                polygons=os.path.join(d, "tahoe_training_polygons.gpkg"))


@pytest.fixture(scope="session")
def desktop():
    """Runs a script in the real QGIS desktop under Xvfb (scripts/qgis_desktop.py) and returns what
    it saw; skips where QGIS's desktop or Xvfb is missing. ``launcher=``: another entry to it (e.g.
    scripts/screenshots.py's). The test fails with QGIS's output or
    the Python traceback that stopped it, or with the script's "error" unless ``check=False``."""
    if not (shutil.which("qgis") and shutil.which("Xvfb")):
        pytest.skip("QGIS desktop or Xvfb not installed")

    def run(*args, check=True, launcher=qgis_desktop.run_desktop, **kwargs):
        try:
            seen = launcher(*args, **kwargs)
        except qgis_desktop.DesktopError as exc:
            pytest.fail(str(exc), pytrace=False)
        if check:
            assert "error" not in seen, seen["error"]
        return seen

    return run


@pytest.fixture(scope="session")
def qgis_process():
    """Runs scripts/qgis_process as a real subprocess (see run_qgis_process)."""
    return run_qgis_process


def run_qgis_process(algorithm, parameters: dict, timeout=600, env=None, umask=None):
    """`scripts/qgis_process run ALG --json -- K=V ...` as a real subprocess → (returncode, json|None, text).

    ``umask``: the user's umask for that process (as set in their shell)."""
    args = [QGIS_PROCESS, "run", algorithm, "--json", "--"]
    args += [f"{key}={value}" for key, value in parameters.items()]
    if umask is not None:
        args = ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh"] + args
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    text = done.stdout + done.stderr
    try:
        payload = json.loads(done.stdout[done.stdout.index("{"):])
    except ValueError:
        payload = None
    return done.returncode, payload, text
