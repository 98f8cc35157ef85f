"""The three algorithms end to end, through processing.run and scripts/qgis_process, on real data."""

import json
import os
from html import unescape

import numpy as np
import pytest
import rasterio
import torch
from osgeo import gdal
from qgis.core import QgsProcessingException, QgsProcessingFeedback
from sklearn.metrics import accuracy_score

from multimodal_siamese.core.io.raster import apply_affine

gdal.UseExceptions()

FAST_PRETRAIN = {"EPOCHS": 2, "SAMPLES_PER_EPOCH": 256, "BATCH_SIZE": 64, "SEED": 1}
#: The analyst's umask in the qgis_process runs below: group-writable, unlike both mkstemp's
#: private 0600 and a hard-coded 0644.
UMASK = 0o002


def assert_modes_follow_umask(*paths):
    """Every output is readable like any other QGIS output: mode == 0o666 & ~umask."""
    modes = {os.path.basename(p): oct(os.stat(p).st_mode & 0o777) for p in paths}
    assert modes == {name: oct(0o666 & ~UMASK) for name in modes}


@pytest.fixture(scope="module")
def potsdam(data_dir):
    d = os.path.join(data_dir, "potsdam")
    return {"HYPERSPECTRAL": os.path.join(d, "enmap_potsdam_vnir.vrt"),
            "MULTISPECTRAL": os.path.join(d, "enmap_potsdam_swir.vrt"),
            "samples": os.path.join(d, "landcover_potsdam_samples.gpkg")}


def modalities(paths):
    return {k: v for k, v in paths.items() if k in ("HYPERSPECTRAL", "MULTISPECTRAL", "SAR")}


def pretrain_parameters(paths, **overrides):
    return dict(modalities(paths), **dict(FAST_PRETRAIN, **overrides))


@pytest.fixture(scope="module")
def pretrained_potsdam(potsdam, tmp_path_factory, qgis_process):
    """mmsiam:pretrain through scripts/qgis_process (a real subprocess), with labels for the
    linear probe."""
    out = tmp_path_factory.mktemp("pretrain")
    model = str(out / "pretrained.pt")
    report = str(out / "pretrain.html")
    code, payload, text = qgis_process("mmsiam:pretrain", pretrain_parameters(
        potsdam, LABELS=potsdam["samples"], CLASS_FIELD="class_id", OUTPUT_MODEL=model, OUTPUT_REPORT=report),
        umask=UMASK)
    assert code == 0, text
    assert payload["results"]["OUTPUT_MODEL"] == model
    assert_modes_follow_umask(model, report)
    return model, report


def test_pretrain_via_qgis_process_writes_a_safe_checkpoint_and_report(pretrained_potsdam):
    model, report = pretrained_potsdam
    checkpoint = torch.load(model, weights_only=True)
    meta = checkpoint["metadata"]
    assert checkpoint["kind"] == "pretrained"
    assert [m["slot"] for m in meta["modalities"]] == ["HYPERSPECTRAL", "MULTISPECTRAL"]
    assert [len(m["kept_bands"]) for m in meta["modalities"]] == [91, 127]
    assert meta["modalities"][1]["dropped_bands"] == list(range(39, 45))
    assert len(meta["modalities"][0]["normalisation"]["center"]) == 91
    assert meta["patch_size"] == 5 and meta["architecture"]["dim"] == 2048  # the defaults
    assert len(meta["loss_history"]) == 2 and len(meta["zstd_history"]) == 2
    assert meta["plugin_version"] and meta["training"]["seed"] == 1
    assert "EPSG" in meta["grid"]["crs_wkt"] or "UTM" in meta["grid"]["crs_wkt"]
    html = open(report, encoding="utf-8").read()
    assert html.count("data:image/png;base64,") == 2 and "collapse monitor" in html
    probe = meta["linear_probe"]  # the labels' probe: every one of the 5,672 labels tested once
    assert probe["labelled_pixels"] == sum(f["test_pixels"] for f in probe["per_fold"]) == 5672
    assert probe["features"] == 2 * 2048 and probe["bands"] == 218 and probe["classes"] == 6
    assert "Linear probe on your labels" in html and f"{100 * probe['bands_lda']['overall_accuracy']:.1f}" in html


def test_same_seed_gives_the_same_model_through_qgis_process_and_processing_run(plugin, potsdam,
                                                                               pretrained_potsdam, tmp_path):
    """SEED fixes the model whichever way the analyst runs it, and the probe's labels (given to
    the qgis_process run only) do not change it. qgis_process (and the QGIS desktop)
    link GDAL, and with it the system's BLAS, into the process's global symbols; torch imported
    plainly there multiplies its matrices with that BLAS instead of its own (other rounding, and
    4 to 70 times slower: core/runtime/torch_loading.py). Here, in pytest's PyQGIS, QGIS's
    libraries are local and torch uses its own."""
    import processing

    model = str(tmp_path / "in_process.pt")
    processing.run("mmsiam:pretrain", pretrain_parameters(potsdam, OUTPUT_MODEL=model))
    ours = torch.load(model, weights_only=True)
    theirs = torch.load(pretrained_potsdam[0], weights_only=True)
    assert ours["metadata"]["loss_history"] == theirs["metadata"]["loss_history"]
    for name, tensor in ours["state_dict"].items():
        assert torch.equal(tensor, theirs["state_dict"][name]), name


def test_pretrain_via_processing_run_and_cancel_leaves_no_file(plugin, potsdam, tmp_path):
    import processing

    model = str(tmp_path / "ok.pt")
    result = processing.run("mmsiam:pretrain", pretrain_parameters(potsdam, EPOCHS=1, OUTPUT_MODEL=model))
    training = torch.load(result["OUTPUT_MODEL"], weights_only=True)["metadata"]["training"]
    # the default objective hides each patch's centre, so it trains patch by patch whatever the form
    assert training["objective"] == "context" and training["dense"] is False
    result = processing.run("mmsiam:pretrain", pretrain_parameters(potsdam, EPOCHS=1, OBJECTIVE="simsiam",
                                                                   OUTPUT_MODEL=model))
    training = torch.load(result["OUTPUT_MODEL"], weights_only=True)["metadata"]["training"]
    assert training["objective"] == "simsiam" and training["dense"] is True
    result = processing.run("mmsiam:pretrain", pretrain_parameters(potsdam, EPOCHS=1, OBJECTIVE="simsiam",
                                                                   TRAINING_FORM="patch", PRECISION="float32",
                                                                   OUTPUT_MODEL=model))
    metadata = torch.load(result["OUTPUT_MODEL"], weights_only=True)["metadata"]
    assert metadata["training"]["dense"] is False
    assert metadata["training"]["precision"] == metadata["precision_used"] == "float32"

    class CancelMidRun(QgsProcessingFeedback):
        def setProgress(self, progress):  # noqa: N802 (QGIS API name)
            super().setProgress(progress)
            if progress > 30:
                self.cancel()

    target = tmp_path / "cancelled.pt"
    target.write_bytes(b"previous model")  # an existing file must survive a cancelled run
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("mmsiam:pretrain", pretrain_parameters(potsdam, EPOCHS=3, OUTPUT_MODEL=str(target)), feedback=CancelMidRun())
    assert target.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_pretrain_with_labels_reports_a_linear_probe_via_processing_run(plugin, tahoe, tmp_path):
    """The optional labels of mmsiam:pretrain: the class field detected, the probe's figures in the
    log, the report and the model file; a label layer that cannot be loaded is refused, not ignored."""
    import processing

    from feedback_log import Log

    model, report, log = str(tmp_path / "pretrained.pt"), str(tmp_path / "pretrain.html"), Log()
    processing.run("mmsiam:pretrain", dict(tahoe["rasters"], **FAST_PRETRAIN, LABELS=tahoe["polygons"],
                                           OUTPUT_MODEL=model, OUTPUT_REPORT=report), feedback=log)
    probe = torch.load(model, weights_only=True)["metadata"]["linear_probe"]
    assert probe["folds"] == 3 and probe["classes"] == 3 and probe["labelled_pixels"] == 2243
    assert probe["features"] == 2 * 2048 and probe["bands"] == 4
    assert any("Class field: 'Class'" in line for line in log.lines)
    sentence = next(line for line in log.lines if line.startswith("Linear probe on your 2243 labelled pixels"))
    assert f"{100 * probe['probe']['overall_accuracy']:.1f} % OA" in sentence
    html = unescape(open(report, encoding="utf-8").read())
    assert "Linear probe on your labels" in html and sentence in html

    missing = str(tmp_path / "missing.pt")
    with pytest.raises(QgsProcessingException, match=r"\(LABELS\): '.*no_such_labels.gpkg' cannot be opened as a "
                                                     "point or polygon layer"):
        processing.run("mmsiam:pretrain", dict(tahoe["rasters"], **FAST_PRETRAIN,
                                               LABELS=str(tmp_path / "no_such_labels.gpkg"), OUTPUT_MODEL=missing))
    with pytest.raises(QgsProcessingException, match=r"\(MULTISPECTRAL\): '.*no_such_image.tif' cannot be opened as "
                                                     "a raster"):
        processing.run("mmsiam:pretrain", dict(tahoe["rasters"], **FAST_PRETRAIN, OUTPUT_MODEL=missing,
                                               MULTISPECTRAL=str(tmp_path / "no_such_image.tif")))
    assert not os.path.exists(missing)


def split_samples(samples, tmp_path):
    """A training and a separate validation point layer (every 7th sample validates)."""
    train, validation = str(tmp_path / "train.gpkg"), str(tmp_path / "validation.gpkg")
    gdal.VectorTranslate(train, samples, where="fid % 7 <> 0 AND fid % 3 = 0")
    gdal.VectorTranslate(validation, samples, where="fid % 7 = 0")
    return train, validation


def test_pretrain_train_classify_via_qgis_process(potsdam, pretrained_potsdam, tmp_path, qgis_process):
    model, _ = pretrained_potsdam
    train, validation = split_samples(potsdam["samples"], tmp_path)
    classifier = str(tmp_path / "classifier.pt")
    report = str(tmp_path / "accuracy.html")
    code, _, text = qgis_process("mmsiam:trainclassifier", dict(
        modalities(potsdam), LABELS=train, CLASS_FIELD="class_id", CLASS_NAME_FIELD="class_name",
        VALIDATION=validation, PRETRAINED=model, EPOCHS=3, SEED=2,
        OUTPUT_MODEL=classifier, OUTPUT_REPORT=report), umask=UMASK)
    assert code == 0, text
    meta = torch.load(classifier, weights_only=True)["metadata"]
    names = {c["code"]: c["name"] for c in meta["classes"]}
    assert names[3] == "low vegetation" or len(set(names.values())) == 6
    assert meta["initialisation"] == "pretrained"
    # the default classifier: the network averaged with a shrinkage LDA on the centre bands
    assert meta["training"]["classifier"] == meta["architecture"]["classifier"] == "ensemble"
    assert meta["architecture"]["network_weight"] == 0.5 and meta["architecture"]["z_components"] == 0
    # ... of three trainings of the network (seeds 2, 1002, 2002), all in the one model file: the
    # map below is the dense form of all three, checked against the report at the validation points
    assert meta["architecture"]["networks"] == meta["training"]["networks"] == 3
    assert "Classifier 'ensemble'" in unescape(open(report, encoding="utf-8").read())

    output, confidence = str(tmp_path / "landcover.tif"), str(tmp_path / "confidence.tif")
    code, _, text = qgis_process("mmsiam:classify", dict(
        modalities(potsdam), MODEL=classifier, OUTPUT=output, OUTPUT_CONFIDENCE=confidence), umask=UMASK)
    assert code == 0, text
    assert_modes_follow_umask(classifier, report, os.path.splitext(report)[0] + ".json",
                              output, confidence, os.path.splitext(output)[0] + ".qml")
    with rasterio.open(potsdam["HYPERSPECTRAL"]) as ref, rasterio.open(output) as out, \
            rasterio.open(confidence) as conf:
        assert out.crs == ref.crs and out.transform == ref.transform
        assert (out.width, out.height) == (ref.width, ref.height)
        assert out.dtypes[0] == "uint8" and out.nodata == 0 and out.profile["tiled"]
        assert out.colormap(1)[1][:3] is not None
        classes = out.read(1)
        conf_values = conf.read(1)
        transform = out.transform
    assert set(np.unique(classes)) <= {0, 1, 2, 3, 4, 5, 6}
    assert (classes == 0).mean() == pytest.approx(0.4, abs=0.01)  # the mosaic's nodata
    assert ((conf_values[classes > 0] > 0) & (conf_values[classes > 0] <= 1)).all()
    style = open(os.path.splitext(output)[0] + ".qml", encoding="utf-8").read()
    assert 'type="paletted"' in style and "low vegetation" in style

    # The report's OA is sklearn's accuracy of the map at the validation points.
    import json

    assessment = json.load(open(os.path.splitext(report)[0] + ".json"))["assessment"]
    from osgeo import ogr

    dataset = ogr.Open(validation)
    layer = dataset.GetLayer(0)
    truth, predicted = [], []
    for feature in layer:
        point = feature.GetGeometryRef()
        col, row = apply_affine(~transform, point.GetX(), point.GetY())
        truth.append(feature.GetField("class_id"))
        predicted.append(int(classes[int(row), int(col)]))
    del layer, dataset
    assert assessment["n_samples"] == len(truth)
    assert assessment["overall_accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-9)


def test_text_class_field_tahoe_points_random_init(plugin, tahoe, tmp_path):
    import processing

    inputs = tahoe["rasters"]
    classifier = str(tmp_path / "tahoe.pt")
    processing.run("mmsiam:trainclassifier", dict(
        inputs, LABELS=tahoe["LABELS"], CLASS_FIELD="SPECIES",
        EPOCHS=2, TRAIN_RATIO=0.7, CLASSIFIER="network", OUTPUT_MODEL=classifier,
        OUTPUT_REPORT=str(tmp_path / "r.html")))
    meta = torch.load(classifier, weights_only=True)["metadata"]
    assert "classifier" not in meta["architecture"]  # the paper's eq. (3) alone, as older files
    assert [(c["code"], c["name"]) for c in meta["classes"]] == [
        (1, "Non-vegetation"), (2, "Shrub"), (3, "Tree")]
    assert meta["initialisation"] == "random"
    assert meta["samples"]["validation"] == 9  # 30 % of 13 + 11 + 6, rounded per class
    result = processing.run("mmsiam:classify", dict(inputs, MODEL=classifier,
                                                     OUTPUT=str(tmp_path / "tahoe.tif")))
    with rasterio.open(result["OUTPUT"]) as out:
        assert set(np.unique(out.read(1))) <= {0, 1, 2, 3}


def test_polygon_labels_para(plugin, data_dir, tmp_path):
    import processing

    d = os.path.join(data_dir, "para_sentinel2")
    classifier = str(tmp_path / "para.pt")
    processing.run("mmsiam:trainclassifier", {
        "MULTISPECTRAL": os.path.join(d, "sen2.tif"), "SAR": os.path.join(d, "srtm_sen2.tif"),
        "LABELS": os.path.join(d, "training_polygons_sen2.gpkg"), "CLASS_FIELD": "class_id",
        "CLASS_NAME_FIELD": "class", "EPOCHS": 1, "PATCH_SIZE": 7, "OUTPUT_MODEL": classifier})
    meta = torch.load(classifier, weights_only=True)["metadata"]
    assert sorted(c["name"] for c in meta["classes"]) == ["dryout", "forest", "village", "water"]
    assert meta["patch_size"] == 7
    assert sum(meta["samples"]["used_per_class"].values()) > 100  # pixels inside polygons


def test_mismatched_modalities_are_refused_without_output(potsdam, pretrained_potsdam, data_dir,
                                                         tmp_path, qgis_process):
    model, _ = pretrained_potsdam
    output = tmp_path / "never.pt"
    # Same slots, but the SWIR slot now holds the VNIR raster: 91 bands instead of 133.
    code, _, text = qgis_process("mmsiam:trainclassifier", dict(
        HYPERSPECTRAL=potsdam["HYPERSPECTRAL"], MULTISPECTRAL=potsdam["HYPERSPECTRAL"],
        LABELS=potsdam["samples"], CLASS_FIELD="class_id", PRETRAINED=model, EPOCHS=1,
        OUTPUT_MODEL=str(output)))
    assert code != 0
    assert "MULTISPECTRAL raster" in text and "91 bands" in text and "133 bands" in text
    assert "Traceback" not in text
    assert not output.exists()
    # A different set of slots.
    code, _, text = qgis_process("mmsiam:trainclassifier", dict(
        HYPERSPECTRAL=potsdam["HYPERSPECTRAL"], SAR=potsdam["MULTISPECTRAL"],
        LABELS=potsdam["samples"], CLASS_FIELD="class_id", PRETRAINED=model, EPOCHS=1,
        OUTPUT_MODEL=str(output)))
    assert code != 0 and "HYPERSPECTRAL, MULTISPECTRAL" in text and not output.exists()


def test_classified_raster_opens_styled_in_qgis(plugin, data_dir, tmp_path):
    """QGIS picks up the .qml beside the GeoTIFF: paletted renderer with the class names."""
    import processing
    from qgis.core import QgsRasterLayer

    d = os.path.join(data_dir, "tahoe")
    inputs = {"MULTISPECTRAL": os.path.join(d, "tahoe_highrez.tif")}
    classifier = str(tmp_path / "m.pt")
    processing.run("mmsiam:trainclassifier", dict(
        inputs, LABELS=os.path.join(d, "tahoe_training_points.gpkg"), CLASS_FIELD="SPECIES",
        EPOCHS=1, PATCH_SIZE=5, OUTPUT_MODEL=classifier))
    result = processing.run("mmsiam:classify", dict(inputs, MODEL=classifier,
                                                     OUTPUT=str(tmp_path / "map.tif")))
    layer = QgsRasterLayer(result["OUTPUT"], "map")
    assert layer.isValid()
    renderer = layer.renderer()
    assert renderer.type() == "paletted"
    assert [c.label for c in renderer.classes()] == ["Non-vegetation", "Shrub", "Tree"]


def test_classify_refuses_wrong_inputs_and_bad_model_files(potsdam, pretrained_potsdam, tmp_path,
                                                           qgis_process):
    pretrained, _ = pretrained_potsdam
    output = tmp_path / "map.tif"
    # A pretraining checkpoint is not a classifier.
    code, _, text = qgis_process("mmsiam:classify", dict(modalities(potsdam), MODEL=pretrained,
                                                         OUTPUT=str(output)))
    assert code != 0 and "pretraining checkpoint" in text and "mmsiam:trainclassifier" in text
    # A truncated file.
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(open(pretrained, "rb").read()[:5000])
    code, _, text = qgis_process("mmsiam:classify", dict(modalities(potsdam), MODEL=str(truncated),
                                                         OUTPUT=str(output)))
    assert code != 0 and "truncated" in text
    assert "Traceback" not in text
    assert not output.exists()


def test_evaluate_via_qgis_process_on_a_real_subset(potsdam, tmp_path, qgis_process):
    """mmsiam:evaluate with pretraining inside: one CSV row per fold × ratio × method."""
    import csv

    subset = str(tmp_path / "subset.gpkg")
    gdal.VectorTranslate(subset, potsdam["samples"], where="fid % 8 = 0")
    table, report = str(tmp_path / "evaluation.csv"), str(tmp_path / "evaluation.html")
    code, _, text = qgis_process("mmsiam:evaluate", dict(
        modalities(potsdam), LABELS=subset, CLASS_FIELD="class_id", FOLDS=2, TRAIN_RATIOS="0.2,1.0",
        EPOCHS=1, SPLIT="blocks", BLOCK_SIZE=20, PRETRAIN_EPOCHS=1, PRETRAIN_SAMPLES_PER_EPOCH=256,
        SEEDS="3,4", OUTPUT_TABLE=table, OUTPUT_REPORT=report), umask=UMASK)
    assert code == 0, text
    assert_modes_follow_umask(table, report, os.path.splitext(report)[0] + ".json")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    methods = ("random", "pretrained", "ensemble_random", "ensemble", "linear", "linear_probe", "random_forest",
               "lda", "logistic")
    assert len(rows) == 2 * 2 * 2 * len(methods)
    assert {(r["seed"], r["fold"], r["ratio"], r["method"]) for r in rows} == {
        (s, f, r, m) for s in ("3", "4") for f in ("1", "2") for r in ("0.2", "1.0") for m in methods}
    # each seed draws its own folds: the test sets of seed 3 and 4 differ
    test_sizes = {s: {(r["fold"], r["test_samples"]) for r in rows if r["seed"] == s} for s in ("3", "4")}
    assert test_sizes["3"] != test_sizes["4"]
    for r in rows:
        for key in ("OA", "AA", "kappa", "mIoU"):
            assert -1 <= float(r[key]) <= 1
        assert 0 <= float(r["OA"]) <= 1 and int(r["test_samples"]) > 0
        # the run's shares beside the LDA (the LDA itself: none of its misses right, none of its hits wrong)
        for key in ("right_on_lda_misses", "wrong_on_lda_hits"):
            assert r[key] == "" or 0 <= float(r[key]) <= 1
        if r["method"] == "lda":
            assert r["right_on_lda_misses"] in ("", "0.0") and r["wrong_on_lda_hits"] in ("", "0.0")
    html = open(report, encoding="utf-8").read()
    assert "Table I" in html and "Table II" in html and "data:image/png;base64," in html
    assert "OA per seed" in html and "shrinkage LDA" in html and "ensemble (default classifier)" in html
    assert "ensemble (default classifier), random init" in html
    # the gain of pretraining, for the network and for the default classifier, per ratio
    result_gains = json.load(open(os.path.splitext(report)[0] + ".json", encoding="utf-8"))["summary"]["gains"]
    assert {(g["classifier"], g["ratio"]) for g in result_gains} == {
        (c, r) for c in ("network", "default classifier") for r in (0.2, 1.0)}
    assert all(g["runs"] == 4 and 0 <= g["runs_not_worse"] <= 4 for g in result_gains)
    # where the networks stand beside the LDA: shares in the JSON, the report's table and the log
    assert all(0 <= g[f"{share}_{start}"] <= 1 for g in result_gains for start in ("pretrained", "random_init")
               for share in ("right_on_lda_misses", "wrong_on_lda_hits"))
    assert "right on the LDA&#x27;s misses" in html  # html.escape quotes the apostrophe
    assert text.count("Beside the shrinkage LDA (all, ratio ") == 2, text
    result = json.load(open(os.path.splitext(report)[0] + ".json", encoding="utf-8"))
    # the default classifier's spectral path decides on its patch mean from each run's training part
    assert result["parameters"]["band_context"] == "auto"
    # the default against the best classic classifier, per ratio: the JSON, Table III and the log
    # agree with the CSV's own rows
    against = {row["ratio"]: row for row in result["summary"]["against_classic"]}
    assert set(against) == {0.2, 1.0}
    for ratio, row in against.items():
        runs = {m: {(r["seed"], r["fold"]): float(r["OA"]) for r in rows
                    if r["ratio"] == str(ratio) and r["method"] == m}
                for m in ("ensemble", "random_forest", "lda", "logistic")}
        means = {m: sum(v.values()) / 4 for m, v in runs.items()}
        best = max(("random_forest", "lda", "logistic"), key=means.get)
        oa = row["overall_accuracy"]
        assert row["runs"] == 4 and oa["best_classic"] == best
        assert oa["default"] == pytest.approx(means["ensemble"]) and oa["classic"] == pytest.approx(means[best])
        assert oa["difference"]["mean"] == pytest.approx(means["ensemble"] - means[best])
        not_worse = sum(runs["ensemble"][k] >= max(runs[m][k] for m in ("random_forest", "lda", "logistic")) - 1e-9
                        for k in runs["ensemble"])
        assert row["runs_not_worse"] == not_worse and not_worse <= row["runs_within"] <= 4
        assert row["mean_iou"]["best_classic"] in ("random_forest", "lda", "logistic")
    assert "Table III — the default classifier against the best classic classifier" in html
    # what the networks add to the default's spectral path alone (CLASSIFIER=linear): JSON, Table IV, log
    added = {row["ratio"]: row for row in result["summary"]["networks_added"]}
    assert set(added) == {0.2, 1.0}
    for ratio, row in added.items():
        oa = {m: {(r["seed"], r["fold"]): float(r["OA"]) for r in rows
                  if r["ratio"] == str(ratio) and r["method"] == m} for m in ("ensemble", "linear")}
        assert row["runs"] == 4 and row["overall_accuracy"]["difference"]["mean"] == pytest.approx(
            sum(oa["ensemble"][k] - oa["linear"][k] for k in oa["ensemble"]) / 4)
        assert row["runs_not_worse"] == sum(oa["ensemble"][k] >= oa["linear"][k] - 1e-9 for k in oa["ensemble"])
    assert "Table IV — what the networks add to the spectral path alone" in html
    assert "spectral path alone (CLASSIFIER=linear)" in html
    assert text.count("against its spectral path alone, CLASSIFIER=linear (all, ratio ") == 2, text
    assert text.count("The default classifier against the best classic classifier (all, ratio ") == 2, text
    assert "the default classifier's mean is at least the best classic classifier's in OA in " in text
    assert text.count("the default classifier's spectral path: the 5×5 patch's mean spectrum ") == 2 * 2 * 2, text
    # a fold whose training part lacks one of its test classes is named in the report
    assert all(n > 0 for fold in result["untrained_folds"] for n in fold["classes"].values())
    assert bool(result["untrained_folds"]) == ("training part lacks" in html)
