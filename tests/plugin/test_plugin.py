"""The plugin loads in QGIS, registers its provider, and qgis_process sees it."""

import os
import subprocess

from qgis.core import QgsApplication, QgsProcessingParameterEnum

QGIS_PROCESS = os.environ["QGIS_PROCESS_SCRIPT"]  # set by conftest.py

ALGORITHMS = {"mmsiam:mapfromlabels", "mmsiam:pretrain", "mmsiam:trainclassifier", "mmsiam:classify"}


def test_provider_registers_with_its_algorithms(provider):
    assert provider is not None
    assert provider.name() == "Multimodal Siamese Land Cover"
    ids = {alg.id() for alg in provider.algorithms()}
    assert ALGORITHMS <= ids
    assert not provider.icon().isNull()


def test_enum_parameters_use_static_strings(provider):
    for alg in provider.algorithms():
        for parameter in alg.parameterDefinitions():
            if isinstance(parameter, QgsProcessingParameterEnum):
                assert parameter.usesStaticStrings(), f"{alg.id()} {parameter.name()}"
        assert alg.shortHelpString()


def test_second_instance_neither_duplicates_nor_removes_the_provider(plugin, qgis_iface):
    import multimodal_siamese

    registry = QgsApplication.processingRegistry()
    before = len(registry.providers())
    second = multimodal_siamese.classFactory(qgis_iface)
    second.initGui()
    assert len(registry.providers()) == before
    second.unload()
    assert registry.providerById("mmsiam") is not None


def test_unload_removes_the_provider_and_init_restores_it(plugin):
    registry = QgsApplication.processingRegistry()
    plugin.unload()
    assert registry.providerById("mmsiam") is None
    plugin.initProcessing()
    assert registry.providerById("mmsiam") is not None


def test_qgis_process_lists_the_provider():
    done = subprocess.run([QGIS_PROCESS, "list"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Multimodal Siamese Land Cover" in done.stdout
    for alg in ALGORITHMS:
        assert alg in done.stdout


def test_missing_dependencies_message_names_packages_and_command(monkeypatch):
    from multimodal_siamese.core.runtime import dependencies

    monkeypatch.setattr(dependencies, "_importable", lambda name: name != "torch")
    message = dependencies.missing_packages_message()
    assert "torch" in message and "pip install" in message and "torch==2.13.0" in message
    assert "scikit-learn" not in message


def test_plugin_loads_and_algorithms_explain_when_torch_is_missing(tmp_path):
    """A QGIS Python without torch/sklearn: the plugin still loads, the algorithm fails clearly."""
    # Debian's QGIS Python alone has neither torch nor scikit-learn.
    env = dict(os.environ, MMSIAM_USE_VENV="0")
    env.pop("PYTHONPATH", None)
    done = subprocess.run([QGIS_PROCESS, "list"], capture_output=True, text=True, timeout=300, env=env)
    assert "mmsiam:pretrain" in done.stdout
    data = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "tahoe",
                        "tahoe_lidar_highesthit.tif")
    done = subprocess.run([QGIS_PROCESS, "run", "mmsiam:pretrain", "--", f"SAR={data}",
                           f"OUTPUT_MODEL={tmp_path / 'm.pt'}"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "pip install" in output and "torch==2.13.0" in output and "scikit-learn" in output
    assert "Traceback" not in output
    assert not (tmp_path / "m.pt").exists()


def test_class_names_and_colours_come_from_the_saved_layer_style():
    """Processing opens label files without their style; the adapter reads the saved default."""
    from qgis.core import QgsVectorLayer

    from multimodal_siamese.algorithms.common import label_features_from_layer

    path = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "sample", "olinda_labels.gpkg")
    layer = QgsVectorLayer(path, "labels", "ogr", QgsVectorLayer.LayerOptions(False))
    assert layer.renderer().type() == "singleSymbol"  # as Processing opens it
    features, names, colors = label_features_from_layer(layer, "class_id")
    assert len(features.values) >= 150 and len(set(features.values)) >= 5
    assert names["1"] == "sea" and colors["3"] == "#1b7a2e"
    assert "31985" in features.crs_wkt or "UTM zone 25S" in features.crs_wkt
