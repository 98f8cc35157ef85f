"""mmsiam:mapfromlabels (labels → styled map in one run), the defaults an analyst meets (class
field detected, last model, train ratio) and styled loading, through processing.run and
scripts/qgis_process on the Tahoe aerial image + LiDAR."""

import os

import numpy as np
import pytest
import rasterio
import torch
from qgis.core import QgsApplication, QgsProcessingException, QgsProject

from feedback_log import Log

TINY = {"PRETRAIN_EPOCHS": 1, "PRETRAIN_SAMPLES_PER_EPOCH": 256, "EPOCHS": 3, "PATCH_SIZE": 5}
CLASSES = ["Non-vegetation", "Shrub", "Tree"]


def test_map_from_labels_in_one_run_detects_the_class_field(plugin, tahoe, tmp_path):
    import processing

    feedback = Log()
    out = {"OUTPUT": str(tmp_path / "map.tif"), "OUTPUT_CONFIDENCE": str(tmp_path / "confidence.tif"),
           "OUTPUT_REPORT": str(tmp_path / "accuracy.html"),
           "OUTPUT_PRETRAINED": str(tmp_path / "pretrained.pt"), "OUTPUT_MODEL": str(tmp_path / "classifier.pt")}
    # No CLASS_FIELD: SPECIES is detected (the first field, fid, would make 30 classes).
    results = processing.run("mmsiam:mapfromlabels", dict(tahoe["rasters"], LABELS=tahoe["LABELS"], **TINY, **out),
                             feedback=feedback)
    assert {k: results[k] for k in out} == out
    with rasterio.open(out["OUTPUT"]) as raster:
        assert raster.shape == (400, 400) and set(np.unique(raster.read(1))) <= {0, 1, 2, 3}
    assert "mmsiam/kind" in open(str(tmp_path / "map.qml"), encoding="utf-8").read()
    assert os.path.isfile(str(tmp_path / "confidence.qml"))
    meta = torch.load(out["OUTPUT_MODEL"], weights_only=True)["metadata"]
    assert [c["name"] for c in meta["classes"]] == CLASSES
    assert meta["class_field"] == "SPECIES" and meta["pretrained_model"] == out["OUTPUT_PRETRAINED"]
    assert meta["training"]["train_ratio"] == 0.7 and meta["samples"]["validation"] == 9
    assert torch.load(out["OUTPUT_PRETRAINED"], weights_only=True)["kind"] == "pretrained"
    assert "overall accuracy" in open(out["OUTPUT_REPORT"], encoding="utf-8").read().lower()
    assert any("'SPECIES'" in line and "detected" in line for line in feedback.lines)
    stages = [line for line in feedback.lines if line.startswith("Stage ")]
    assert [s[:12] for s in stages] == ["Stage 1 of 3", "Stage 2 of 3", "Stage 3 of 3"]
    # One progress bar over the three stages: it never goes back and ends at 100.
    assert feedback.percents == sorted(feedback.percents) and feedback.percents[-1] == 100
    # The last model trained in this session is classify's default.
    classify = QgsApplication.processingRegistry().createAlgorithmById("mmsiam:classify")
    assert classify.parameterDefinition("MODEL").defaultValue() == out["OUTPUT_MODEL"]


def test_reusing_a_pretrained_model_skips_pretraining_and_classify_defaults_to_the_new_model(
        plugin, tahoe, tmp_path):
    import processing

    first = processing.run("mmsiam:mapfromlabels", dict(
        tahoe["rasters"], LABELS=tahoe["LABELS"], CLASS_FIELD="SPECIES", **TINY,
        OUTPUT=str(tmp_path / "a.tif"), OUTPUT_PRETRAINED=str(tmp_path / "pre.pt"),
        OUTPUT_MODEL=str(tmp_path / "a.pt")))
    feedback = Log()
    second = processing.run("mmsiam:mapfromlabels", dict(
        tahoe["rasters"], LABELS=tahoe["LABELS"], PRETRAINED=first["OUTPUT_PRETRAINED"], **TINY,
        OUTPUT=str(tmp_path / "b.tif"), OUTPUT_MODEL=str(tmp_path / "b.pt")), feedback=feedback)
    assert "OUTPUT_PRETRAINED" not in second
    assert any("reusing the pretrained model" in line for line in feedback.lines)
    # classify without MODEL: the model mapfromlabels trained last.
    result = processing.run("mmsiam:classify", dict(tahoe["rasters"], OUTPUT=str(tmp_path / "c.tif")))
    with rasterio.open(result["OUTPUT"]) as c, rasterio.open(second["OUTPUT"]) as b:
        assert np.array_equal(c.read(1), b.read(1))


def test_zero_pretraining_epochs_trains_from_random_weights_like_trainclassifier(plugin, tahoe, tmp_path):
    """PRETRAIN_EPOCHS=0: no stage-1 pretraining; the classifier is the one trainclassifier trains
    without a PRETRAINED model (same seed, same weights), and an asked-for pretrained model is
    not written, with a warning saying so."""
    import processing

    feedback = Log()
    asked = tmp_path / "pretrained.pt"
    settings = dict(tahoe["rasters"], LABELS=tahoe["LABELS"], CLASS_FIELD="SPECIES", EPOCHS=3, PATCH_SIZE=5,
                    SEED=11)
    results = processing.run("mmsiam:mapfromlabels", dict(
        settings, PRETRAIN_EPOCHS=0, OUTPUT=str(tmp_path / "map.tif"), OUTPUT_PRETRAINED=str(asked),
        OUTPUT_MODEL=str(tmp_path / "one_run.pt")), feedback=feedback)
    assert "OUTPUT_PRETRAINED" not in results and not asked.exists()
    assert any(line.startswith("Stage 1 of 3: no pretraining") for line in feedback.lines)
    assert any(str(asked) in line for line in feedback.warnings) and not feedback.errors
    assert feedback.percents == sorted(feedback.percents) and feedback.percents[-1] == 100
    processing.run("mmsiam:trainclassifier", dict(settings, OUTPUT_MODEL=str(tmp_path / "alone.pt")))
    one_run, alone = (torch.load(str(tmp_path / f), weights_only=True) for f in ("one_run.pt", "alone.pt"))
    assert one_run["metadata"]["pretrained_model"] is None
    assert one_run["state_dict"].keys() == alone["state_dict"].keys()
    assert all(torch.equal(one_run["state_dict"][k], alone["state_dict"][k]) for k in alone["state_dict"])
    with rasterio.open(results["OUTPUT"]) as raster:
        assert set(np.unique(raster.read(1))) <= {0, 1, 2, 3}


def test_map_from_labels_through_qgis_process(tahoe, tmp_path, qgis_process):
    out = tmp_path / "map.tif"
    code, payload, text = qgis_process("mmsiam:mapfromlabels", dict(
        tahoe["rasters"], LABELS=tahoe["LABELS"], **TINY, OUTPUT=out, OUTPUT_MODEL=tmp_path / "m.pt"))
    assert code == 0, text
    assert payload["results"]["OUTPUT"] == str(out)
    assert "'SPECIES'" in text and "Stage 3 of 3" in text
    with rasterio.open(out) as raster:
        assert set(np.unique(raster.read(1))) <= {0, 1, 2, 3}
    assert (tmp_path / "map.qml").is_file()


def test_an_identifier_as_class_field_is_refused(plugin, tahoe, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match=r"is CLASS_FIELD right\?"):
        processing.run("mmsiam:trainclassifier", dict(
            tahoe["rasters"], LABELS=tahoe["LABELS"], CLASS_FIELD="fid", EPOCHS=1,
            OUTPUT_MODEL=str(tmp_path / "never.pt")))
    assert not (tmp_path / "never.pt").exists()


def test_defaults_and_labels_a_user_reads(plugin):
    registry = QgsApplication.processingRegistry()
    train = registry.createAlgorithmById("mmsiam:trainclassifier")
    assert train.parameterDefinition("TRAIN_RATIO").defaultValue() == 0.7
    assert train.parameterDefinition("CLASS_FIELD").defaultValue() in (None, "")
    # the dialogs offer the core's default pretraining objective (their module cannot import torch)
    from multimodal_siamese.core.learn.pretraining import DEFAULT_OBJECTIVE, OBJECTIVES
    for algorithm_id in ("mmsiam:pretrain", "mmsiam:evaluate"):
        objective = registry.algorithmById(algorithm_id).parameterDefinition("OBJECTIVE")
        assert objective.defaultValue() == DEFAULT_OBJECTIVE == "context"
        assert set(objective.options()) <= set(OBJECTIVES)
    for algorithm in registry.providerById("mmsiam").algorithms():
        for definition in algorithm.parameterDefinitions():
            description = definition.description()
            assert "optional" not in description.lower(), (algorithm.id(), description)
            assert "co-registrable" not in description and "Sar " not in description
        text = algorithm.shortHelpString()
        for paper_only in ("eq. (", "g = linear", "benchmarks/", "z_H"):
            assert paper_only not in text, (algorithm.id(), paper_only)
        assert "Method:" in text and "IEEE GRSL 2024" in text
        assert "Hyperspectral" in text and "co-registrable" not in text
    assert registry.algorithmById("mmsiam:classify").parameterDefinition("SAR").description() == "SAR raster"
    assert "any raster works in any slot" in registry.algorithmById("mmsiam:classify").parameterDefinition(
        "SAR").help()


def test_run_and_load_results_styles_the_map_and_puts_the_confidence_below_it(plugin, tahoe, tmp_path,
                                                                              monkeypatch):
    """Processing's own loading of the outputs (as in a PyQGIS script without a desktop), then the
    algorithm's post-processors. Processing's loader is given no iface: QGIS 3.44 hands the
    iface's layer tree view to C++ (``QgsProcessingGuiUtils.addResultLayers``), which refuses
    pytest-qgis's MagicMock. The real desktop's iface: tests/plugin/test_desktop.py
    (``run_and_load`` in desktop_screenshot_script.py)."""
    import processing
    from processing.gui import Postprocessing

    monkeypatch.setattr(Postprocessing, "iface", None, raising=False)  # 3.22's loader uses none
    model = str(tmp_path / "m.pt")
    processing.run("mmsiam:trainclassifier", dict(
        {"MULTISPECTRAL": tahoe["MULTISPECTRAL"]}, LABELS=tahoe["LABELS"], CLASS_FIELD="SPECIES",
        EPOCHS=1, OUTPUT_MODEL=model))
    project = QgsProject.instance()
    before = set(project.mapLayers())
    processing.runAndLoadResults("mmsiam:classify", {
        "MULTISPECTRAL": tahoe["MULTISPECTRAL"], "MODEL": model, "OUTPUT": str(tmp_path / "map.tif"),
        "OUTPUT_CONFIDENCE": str(tmp_path / "confidence.tif")})
    added = [project.mapLayer(i) for i in project.mapLayers() if i not in before]
    try:
        by_type = {layer.renderer().type(): layer for layer in added}
        classified = by_type["paletted"]
        assert [c.label for c in classified.renderer().classes()] == CLASSES
        confidence = by_type["singlebandpseudocolor"]
        labels = [label for label, _ in confidence.renderer().legendSymbologyItems()]
        assert labels[0].startswith("0") and labels[-1].startswith("1")
        order = [node.layerId() for node in project.layerTreeRoot().findLayers()]
        assert order.index(confidence.id()) > order.index(classified.id())
    finally:
        project.removeMapLayers([layer.id() for layer in added])


def test_cancel_in_the_classifier_stage_leaves_no_map_and_no_classifier(plugin, tahoe, tmp_path):
    import processing

    class CancelInStageTwo(Log):
        def pushInfo(self, text):  # noqa: N802 (QGIS API name)
            super().pushInfo(text)
            if text.startswith("Stage 2"):
                self.cancel()

    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("mmsiam:mapfromlabels", dict(
            tahoe["rasters"], LABELS=tahoe["LABELS"], **TINY, OUTPUT=str(tmp_path / "map.tif"),
            OUTPUT_PRETRAINED=str(tmp_path / "pre.pt"), OUTPUT_MODEL=str(tmp_path / "m.pt")),
            feedback=CancelInStageTwo())
    assert sorted(os.listdir(tmp_path)) == ["pre.pt"]  # stage 1 finished whole; nothing else
