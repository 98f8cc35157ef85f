"""`make package` (scripts/package.py): the zip passes the plugin repository's rules and loads
in a fresh QGIS profile through qgis_process."""

import configparser
import importlib.util
import os
import re
import shutil
import subprocess
import zipfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("mmsiam_package_script",
                                               os.path.join(REPO_ROOT, "scripts", "package.py"))
package = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(package)

REQUIRED_KEYS = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
                 "repository")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("package") / "multimodal_siamese.zip"
    package.build(str(out))
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        metadata = archive.read("multimodal_siamese/metadata.txt").decode("utf-8")
    return out, names, metadata


def test_zip_has_one_plugin_folder_named_like_the_zip_and_no_development_files(built):
    path, names, _ = built
    assert {name.split("/")[0] for name in names} == {os.path.splitext(path.name)[0]}
    inside = {name.split("/", 1)[1] for name in names}
    assert {"__init__.py", "plugin.py", "metadata.txt", "LICENSE", "gui/menu.py",
            "algorithms/pretrain.py", "processing_provider/provider.py"} <= inside
    for name in inside:
        assert "__pycache__" not in name and not name.endswith((".pyc", ".pyo")), name
        assert not name.startswith(("tests/", "benchmarks/", "scripts/", ".ci/", ".qgis-settings/", ".")), name
        assert name not in ("Makefile", "bootstrap.sh", "pytest.ini", "requirements-dev.txt"), name
        assert not name.startswith((".venv/", ".build/", "data/", "demo_output/")), name
    tracked = set(package.tracked_files())
    assert inside <= tracked  # only what git tracks


def test_metadata_follows_the_plugin_repository_rules(built):
    _, names, text = built
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive (qgisMinimumVersion)
    parser.read_string(text)
    general = parser["general"]
    for key in REQUIRED_KEYS + ("tracker",):
        assert general.get(key, "").strip(), f"metadata.txt lacks {key}"
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", general["qgisMinimumVersion"])
    # The tested range: 3.22 to all of QGIS 3 (QGIS 4 is not tested yet).
    assert (general["qgisMinimumVersion"], general["qgisMaximumVersion"]) == ("3.22", "3.99")
    assert re.fullmatch(r"\d+\.\d+\.\d+([-.]?\w+)?", general["version"])
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.\w+", general["email"])
    for key in ("repository", "tracker", "homepage"):
        assert general[key].startswith("https://"), key
    assert f"multimodal_siamese/{general['icon']}" in names
    assert general.get("hasProcessingProvider") == "yes"


def test_unzipped_into_a_fresh_profile_the_plugin_loads_in_qgis_process(built, tmp_path):
    path, _, _ = built
    plugins = tmp_path / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(path) as archive:
        archive.extractall(plugins)
    binary = shutil.which("qgis_process.bin") or "/usr/lib/qgis/qgis_process.bin"
    if not os.access(binary, os.X_OK):
        pytest.skip("qgis_process.bin not installed")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    # As scripts/qgis_process does, but with the unzipped copy as the only plugin on the path.
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "QGIS_PLUGINPATH", "QGIS_CUSTOM_CONFIG_PATH")}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_PLUGINPATH=str(plugins),
               QGIS_CUSTOM_CONFIG_PATH=str(tmp_path), XDG_RUNTIME_DIR=str(runtime))

    def qgis_process(*args):
        done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=300, env=env)
        return done.returncode, done.stdout + done.stderr

    code, text = qgis_process("plugins", "enable", "multimodal_siamese")
    assert code == 0, text
    code, text = qgis_process("list")
    assert code == 0, text
    for algorithm in ("mmsiam:pretrain", "mmsiam:trainclassifier", "mmsiam:classify"):
        assert algorithm in text
    code, text = qgis_process("help", "mmsiam:classify")
    assert code == 0 and "Classifier model" in text, text
