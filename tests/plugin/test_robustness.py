"""Issue 7 — an analyst's ordinary mistakes never crash QGIS, leave half-written files or give a
silent wrong map. Through scripts/qgis_process (exit code, message, no traceback) and
processing.run (QgsProcessingException naming the layer / parameter and the fix), on the real
Pará Sentinel-2 + SRTM sample with tiny settings."""

import json
import os
from html import escape

import numpy as np
import pytest
import rasterio
import torch
from osgeo import gdal, ogr
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from feedback_log import Log
from mmsiam_test_data import GAP_BLOCK, HOLE_BLOCK, NODATA, crafted_model_files, punch_gaps

gdal.UseExceptions()

TINY = {"PATCH_SIZE": 5, "EPOCHS": 1, "BATCH_SIZE": 32, "SEED": 1}
TINY_PRETRAIN = dict(TINY, SAMPLES_PER_EPOCH=128, BATCH_SIZE=64)


# ----------------------------------------------------------------------------- test data


def _copy_vector(source, target, edit):
    """Copy the first layer of ``source`` to a GeoPackage, ``edit(feature, new_feature)`` deciding
    geometry and class (return False to skip the feature)."""
    src = ogr.Open(source)
    layer = src.GetLayer(0)
    out = ogr.GetDriverByName("GPKG").CreateDataSource(target)
    new = out.CreateLayer("labels", layer.GetSpatialRef(), ogr.wkbUnknown)
    new.CreateField(ogr.FieldDefn("class_id", ogr.OFTInteger))
    new.CreateField(ogr.FieldDefn("class", ogr.OFTString))
    for feature in layer:
        created = ogr.Feature(new.GetLayerDefn())
        if edit(feature, created) is not False:
            new.CreateFeature(created)
    del new, out, layer, src
    return target


@pytest.fixture(scope="module")
def para(data_dir, tmp_path_factory):
    """Pará paths plus the broken variants an analyst might hand in."""
    d = os.path.join(data_dir, "para_sentinel2")
    work = tmp_path_factory.mktemp("robust_data")
    p = {"sen2": os.path.join(d, "sen2.tif"), "srtm": os.path.join(d, "srtm_sen2.tif"),
         "polygons": os.path.join(d, "training_polygons_sen2.gpkg"), "dir": str(work)}
    # A DEM of another continent, and a DEM that is nodata everywhere.
    p["far"] = str(work / "far_dem.tif")
    gdal.Translate(p["far"], p["srtm"], outputBounds=[10.0, 10.02, 10.02, 10.0])
    p["empty"] = str(work / "empty_dem.tif")
    ds = gdal.Translate(p["empty"], p["srtm"], noData=NODATA)
    ds.GetRasterBand(1).Fill(NODATA)
    ds = None

    def centroid(feature, new, keep=lambda f: True):
        if not keep(feature):
            return False
        new.SetGeometry(feature.GetGeometryRef().Centroid())
        new.SetField("class_id", feature.GetField("class_id"))
        new.SetField("class", feature.GetField("class"))

    # One point per polygon (25 points): fast labels for the tiny runs.
    p["points"] = _copy_vector(p["polygons"], str(work / "points.gpkg"), centroid)
    # ... with a single 'water' point.
    water = iter(range(100))
    p["one_water"] = _copy_vector(p["polygons"], str(work / "one_water.gpkg"), lambda f, n: centroid(
        f, n, lambda f: f.GetField("class") != "water" or next(water) == 0))

    def moved(feature, new):  # 5 degrees away: outside every raster
        geometry = feature.GetGeometryRef().Centroid()
        geometry.SetPoint_2D(0, geometry.GetX() + 5, geometry.GetY() + 5)
        new.SetGeometry(geometry)
        new.SetField("class_id", feature.GetField("class_id"))

    p["outside"] = _copy_vector(p["polygons"], str(work / "outside.gpkg"), moved)
    p["nulls"] = _copy_vector(p["polygons"], str(work / "nulls.gpkg"),
                              lambda f, n: n.SetGeometry(f.GetGeometryRef().Centroid()))
    # Cloud-masked Sentinel-2: NaN in bands 3-5 of one block, nodata in all bands of another.
    p["gapped"] = str(work / "sen2_gapped.tif")
    punch_gaps(p["sen2"], p["gapped"])
    # Model files that must be refused: truncated, and crafted to run code when unpickled.
    p["evil"], p["evil_legacy"], p["marker"] = crafted_model_files(str(work))
    return p


def both(p):
    return {"MULTISPECTRAL": p["sen2"], "SAR": p["srtm"]}


@pytest.fixture(scope="module")
def pretrained(plugin, para):
    import processing

    model, report = os.path.join(para["dir"], "pre.pt"), os.path.join(para["dir"], "pre.html")
    processing.run("mmsiam:pretrain", dict(both(para), **TINY_PRETRAIN, OUTPUT_MODEL=model,
                                           OUTPUT_REPORT=report))
    truncated = os.path.join(para["dir"], "pre_truncated.pt")
    with open(model, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:4000])
    return {"model": model, "report": report, "truncated": truncated}


@pytest.fixture(scope="module")
def classifier(plugin, para):
    import processing

    model, report = os.path.join(para["dir"], "clf.pt"), os.path.join(para["dir"], "clf.html")
    processing.run("mmsiam:trainclassifier", dict(
        both(para), LABELS=para["points"], CLASS_FIELD="class_id", CLASS_NAME_FIELD="class",
        TRAIN_RATIO=0.8, **TINY, OUTPUT_MODEL=model, OUTPUT_REPORT=report))
    truncated = os.path.join(para["dir"], "clf_truncated.pt")
    with open(model, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:4000])
    return {"model": model, "report": report, "truncated": truncated}


def leftovers(folder):
    """Temporary files an interrupted write would leave (atomic outputs are '.<name>.*')."""
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


# ----------------------------------------------------------------------------- qgis_process


QGIS_PROCESS_CASES = {
    "non-overlapping modalities": (
        "mmsiam:trainclassifier",
        lambda p: dict(MULTISPECTRAL=p["sen2"], SAR=p["far"], LABELS=p["points"]),
        ["rasters do not overlap", "MULTISPECTRAL, SAR", "coordinate reference system"]),
    "modality without any valid pixel": (
        "mmsiam:trainclassifier",
        lambda p: dict(MULTISPECTRAL=p["sen2"], SAR=p["empty"], LABELS=p["points"]),
        ["SAR raster", "empty_dem.tif", "no valid pixel", "nodata value"]),
    "labels outside the common extent": (
        "mmsiam:trainclassifier",
        lambda p: dict(MULTISPECTRAL=p["sen2"], LABELS=p["outside"]),
        ["label layer 'outside'", "no feature inside the rasters' common extent",
         "all 25 labelled features", "CRS"]),
    "EPOCHS 0": (
        "mmsiam:trainclassifier",
        lambda p: dict(MULTISPECTRAL=p["sen2"], LABELS=p["points"], EPOCHS=0),
        ["Epochs (EPOCHS) must be a whole number of at least 1; got 0"]),
    "read-only output folder": (
        "mmsiam:trainclassifier",
        lambda p: dict(MULTISPECTRAL=p["sen2"], LABELS=p["points"], OUTPUT_MODEL="/sys/model.pt"),
        ["classifier model '/sys/model.pt' is not writable", "Choose a folder"]),
    "crafted pickle as classifier model": (
        "mmsiam:classify",
        lambda p: dict(MULTISPECTRAL=p["sen2"], MODEL=p["evil"]),
        ["evil.pt", "could run code", "not opened"]),
}


@pytest.mark.parametrize("case", list(QGIS_PROCESS_CASES))
def test_qgis_process_exits_non_zero_with_one_clear_sentence(para, qgis_process, tmp_path, case):
    algorithm, build, fragments = QGIS_PROCESS_CASES[case]
    output = tmp_path / ("out.tif" if algorithm == "mmsiam:classify" else "out.pt")
    parameters = dict({"CLASS_FIELD": "class_id", **TINY, "OUTPUT_MODEL": str(output)}
                      if algorithm == "mmsiam:trainclassifier" else {"OUTPUT": str(output)})
    parameters.update(build(para))
    code, _, text = qgis_process(algorithm, parameters)
    assert code != 0, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    assert not output.exists() and leftovers(tmp_path) == []
    assert not os.path.exists(para["marker"])


# ----------------------------------------------------------------------------- processing.run


def _train(p, **kw):
    return dict(dict(MULTISPECTRAL=p["sen2"], LABELS=p["points"], CLASS_FIELD="class_id", **TINY), **kw)


def _classify(p, **kw):
    return dict(dict(both(p)), **kw)


# id → (algorithm, parameters(paths, models), message fragments). The output parameter is added.
REFUSALS = {
    "missing class field": ("mmsiam:trainclassifier", lambda p, m: _train(p, CLASS_FIELD="landuse"),
                            ["Labels layer 'points' has no field 'landuse'", "class_id",
                             "choose one of them as the class field"]),
    "all-NULL class field": ("mmsiam:trainclassifier", lambda p, m: _train(p, LABELS=p["nulls"]),
                             ["class field 'class_id' of the label layer 'nulls' is empty",
                              "all 25 features", "Choose the field"]),
    "validation labels outside the extent": (
        "mmsiam:trainclassifier", lambda p, m: _train(p, VALIDATION=p["outside"]),
        ["validation layer 'outside' has no feature inside the rasters' common extent"]),
    "one sample with TRAIN_RATIO < 1": (
        "mmsiam:trainclassifier", lambda p, m: _train(p, LABELS=p["one_water"], CLASS_NAME_FIELD="class",
                                         TRAIN_RATIO=0.7),
        ["Class 'water' has only 1 usable sample", "TRAIN_RATIO", "set TRAIN_RATIO to 1"]),
    "even PATCH_SIZE (train)": ("mmsiam:trainclassifier", lambda p, m: _train(p, PATCH_SIZE=4),
                                ["PATCH_SIZE must be an odd number", "got 4"]),
    "even PATCH_SIZE (pretrain)": ("mmsiam:pretrain", lambda p, m: dict(both(p), **dict(
        TINY_PRETRAIN, PATCH_SIZE=6)), ["PATCH_SIZE must be an odd number", "got 6"]),
    "PATCH_SIZE below 3": ("mmsiam:pretrain", lambda p, m: dict(both(p), **dict(
        TINY_PRETRAIN, PATCH_SIZE=1)), ["Patch size (odd, pixels) (PATCH_SIZE) must be a whole number from 3 to 63; got 1"]),
    "EPOCHS 0 (pretrain)": ("mmsiam:pretrain", lambda p, m: dict(both(p), **dict(
        TINY_PRETRAIN, EPOCHS=0)), ["Epochs (EPOCHS) must be a whole number of at least 1; got 0"]),
    "output in a missing folder": (
        "mmsiam:trainclassifier", lambda p, m: _train(p, OUTPUT_MODEL=os.path.join(p["dir"], "no", "m.pt")),
        ["folder of the classifier model", "does not exist", "Create it"]),
    "output under a file": ("mmsiam:pretrain", lambda p, m: dict(both(p), **TINY_PRETRAIN,
                                                                  OUTPUT_MODEL="/etc/hostname/m.pt"),
                            ["pretrained model '/etc/hostname/m.pt'", "is a file, not a folder"]),
    "classify into a read-only folder": ("mmsiam:classify", lambda p, m: _classify(
        p, MODEL=m["classifier"], OUTPUT="/proc/map.tif"), ["classified raster", "not writable"]),
    "classify: other modality slots": ("mmsiam:classify", lambda p, m: dict(
        MULTISPECTRAL=p["sen2"], MODEL=m["classifier"]),
        ["trained with the modalities MULTISPECTRAL, SAR", "this run has MULTISPECTRAL",
         "same rasters in the same slots"]),
    "classify: other band count": ("mmsiam:classify", lambda p, m: dict(
        MULTISPECTRAL=p["srtm"], SAR=p["srtm"], MODEL=m["classifier"]),
        ["MULTISPECTRAL raster", "has 1 band but", "trained with 12 bands", "same sensor's bands"]),
    "classify: truncated model": ("mmsiam:classify", lambda p, m: _classify(
        p, MODEL=m["classifier_truncated"]), ["clf_truncated.pt", "corrupt or truncated"]),
    "classify: crafted legacy pickle": ("mmsiam:classify", lambda p, m: _classify(
        p, MODEL=p["evil_legacy"]), ["evil_legacy.pt", "Model file"]),
    "classify: a pretraining checkpoint": ("mmsiam:classify", lambda p, m: _classify(
        p, MODEL=m["pretrained"]), ["pretraining checkpoint", "mmsiam:trainclassifier"]),
    "train: pretrained with other slots": ("mmsiam:trainclassifier", lambda p, m: _train(
        p, PRETRAINED=m["pretrained"]), ["pretrained model was trained with the modalities "
                                         "MULTISPECTRAL, SAR", "this run has MULTISPECTRAL"]),
    "train: pretrained with other band count": ("mmsiam:trainclassifier", lambda p, m: _train(
        p, MULTISPECTRAL=p["srtm"], SAR=p["srtm"], PRETRAINED=m["pretrained"]),
        ["MULTISPECTRAL raster", "has 1 band but", "12 bands"]),
    "train: truncated pretrained model": ("mmsiam:trainclassifier", lambda p, m: _train(
        p, SAR=p["srtm"], PRETRAINED=m["pretrained_truncated"]), ["pre_truncated.pt", "truncated"]),
    "train: crafted pretrained model": ("mmsiam:trainclassifier", lambda p, m: _train(
        p, SAR=p["srtm"], PRETRAINED=p["evil"]), ["evil.pt", "could run code"]),
}


@pytest.fixture(scope="module")
def models(pretrained, classifier):
    return {"pretrained": pretrained["model"], "pretrained_truncated": pretrained["truncated"],
            "classifier": classifier["model"], "classifier_truncated": classifier["truncated"]}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_mistakes_are_refused_with_a_clear_message_and_no_output(plugin, para, models, tmp_path, case):
    import processing

    algorithm, build, fragments = REFUSALS[case]
    parameters = build(para, models)
    key = "OUTPUT" if algorithm == "mmsiam:classify" else "OUTPUT_MODEL"
    output = tmp_path / ("map.tif" if key == "OUTPUT" else "model.pt")
    output.write_bytes(b"previous result")  # an existing output survives a refused run
    parameters.setdefault(key, str(output))
    with pytest.raises(QgsProcessingException) as err:
        processing.run(algorithm, parameters)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message
    assert output.read_bytes() == b"previous result"
    assert sorted(os.listdir(tmp_path)) == [output.name]  # no temporary file, no .qml
    assert not os.path.exists(para["marker"])


# ----------------------------------------------------------------------------- cancel / replace


class CancelAt(QgsProcessingFeedback):
    def __init__(self, percent):
        super().__init__()
        self.percent = percent

    def setProgress(self, progress):  # noqa: N802 (QGIS API name)
        super().setProgress(progress)
        if progress >= self.percent:
            self.cancel()


def test_cancel_mid_training_and_mid_classification_leaves_existing_files_untouched(
        plugin, para, classifier, tmp_path):
    import processing

    model = tmp_path / "model.pt"
    model.write_bytes(b"previous model")
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("mmsiam:trainclassifier", dict(
            both(para), LABELS=para["polygons"], CLASS_FIELD="class_id", **dict(TINY, BATCH_SIZE=64),
            OUTPUT_MODEL=str(model), OUTPUT_REPORT=str(tmp_path / "report.html")),
            feedback=CancelAt(30))
    assert model.read_bytes() == b"previous model"
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]

    output, confidence = tmp_path / "map.tif", tmp_path / "confidence.tif"
    output.write_bytes(b"previous map")
    confidence.write_bytes(b"previous confidence")
    feedback = CancelAt(40)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("mmsiam:classify", dict(  # the smallest budget: several blocks
            both(para), MODEL=classifier["model"], MEMORY_MB=64, OUTPUT=str(output),
            OUTPUT_CONFIDENCE=str(confidence)), feedback=feedback)
    assert 40 <= feedback.progress() < 100
    assert output.read_bytes() == b"previous map"
    assert confidence.read_bytes() == b"previous confidence"
    assert sorted(os.listdir(tmp_path)) == ["confidence.tif", "map.tif", "model.pt"]

    # The same run, not cancelled, replaces both files.
    processing.run("mmsiam:classify", dict(both(para), MODEL=classifier["model"], MEMORY_MB=64,
                                           OUTPUT=str(output), OUTPUT_CONFIDENCE=str(confidence)))
    with rasterio.open(output) as out, rasterio.open(confidence) as conf:
        assert out.dtypes[0] == "uint8" and conf.dtypes[0] == "float32"
        assert (out.read(1) > 0).all()  # both rasters have data everywhere
    assert sorted(os.listdir(tmp_path)) == ["confidence.qml", "confidence.tif", "map.qml", "map.tif",
                                            "model.pt"]


# ----------------------------------------------------------------------------- gaps


def test_partial_gaps_never_reach_the_network_and_every_output_value_is_defined(
        plugin, para, tmp_path, request):
    import processing
    from torch.nn.modules.module import register_module_forward_pre_hook

    # Whatever path training and prediction take through the network (fused or folded copies
    # included), every layer's input is checked: no NaN / inf may reach any of them.
    calls, bad = [], []

    def check_inputs(module, args):
        tensors = [t for a in args for t in (a if isinstance(a, (list, tuple)) else [a])
                   if isinstance(t, torch.Tensor)]
        calls.append(type(module).__name__)
        if not all(torch.isfinite(t).all() for t in tensors):
            bad.append(type(module).__name__)

    hook = register_module_forward_pre_hook(check_inputs)
    request.addfinalizer(hook.remove)
    inputs = {"MULTISPECTRAL": para["gapped"], "SAR": para["srtm"]}
    model = str(tmp_path / "gapped.pt")
    processing.run("mmsiam:trainclassifier", dict(
        inputs, LABELS=para["points"], CLASS_FIELD="class_id", **TINY, OUTPUT_MODEL=model))
    trained_calls = len(calls)
    meta = torch.load(model, weights_only=True)["metadata"]
    assert meta["modalities"][0]["kept_bands"] == list(range(1, 13))  # no band dropped for a gap
    # All 25 points are used: 4 of them lie in the cloud-masked block, none in the hole.
    assert sum(meta["samples"]["used_per_class"].values()) == 25
    output, confidence = str(tmp_path / "map.tif"), str(tmp_path / "confidence.tif")
    processing.run("mmsiam:classify", dict(inputs, MODEL=model, OUTPUT=output,
                                           OUTPUT_CONFIDENCE=confidence))
    assert 0 < trained_calls < len(calls)  # checked in training and in classification
    assert bad == [], f"NaN/inf reached {sorted(set(bad))}"
    codes = {c["code"] for c in meta["classes"]}
    with rasterio.open(output) as out, rasterio.open(confidence) as conf:
        classes, probability = out.read(1), conf.read(1)
        assert out.nodata == 0 and conf.nodata == -1
    assert set(np.unique(classes)) <= codes | {0}
    assert np.isfinite(probability).all()
    # Every pixel is either classified with a probability, or nodata in both rasters.
    classified = classes != 0
    assert ((probability > 0) & (probability <= 1))[classified].all()
    assert (probability[~classified] == -1).all()
    # The cloud-masked block (3 of 12 bands missing) is classified; the hole is nodata.
    assert classified[GAP_BLOCK].all()
    assert not classified[HOLE_BLOCK].any()
    assert classified.sum() == classes.size - classes[HOLE_BLOCK].size


# ----------------------------------------------------------------------------- reproducibility


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_model_and_map_other_seed_other_model(plugin, para, pretrained, tmp_path):
    import processing

    def train(name, seed):
        path = str(tmp_path / name)
        processing.run("mmsiam:trainclassifier", dict(
            both(para), LABELS=para["points"], CLASS_FIELD="class_id", **dict(TINY, SEED=seed),
            DEVICE="cpu", OUTPUT_MODEL=path))
        return path

    first, again, other = train("a.pt", 7), train("b.pt", 7), train("c.pt", 8)
    assert _same_weights(_weights(first), _weights(again))
    assert not _same_weights(_weights(first), _weights(other))
    maps = []
    for model in (first, again):
        result = processing.run("mmsiam:classify", dict(both(para), MODEL=model, DEVICE="cpu",
                                                         OUTPUT=str(tmp_path / f"{model}.tif")))
        with rasterio.open(result["OUTPUT"]) as out:
            maps.append(out.read(1))
    assert maps[0].tobytes() == maps[1].tobytes()
    # Pretraining too: the same parameters as the fixture's give the same weights.
    repeat = str(tmp_path / "pre_again.pt")
    processing.run("mmsiam:pretrain", dict(both(para), **TINY_PRETRAIN, OUTPUT_MODEL=repeat))
    assert _same_weights(_weights(pretrained["model"]), _weights(repeat))


# ----------------------------------------------------------------------------- reports


def test_reports_record_version_parameters_libraries_and_run_time(pretrained, classifier):
    from multimodal_siamese.core.runtime.version import plugin_version

    version = plugin_version()
    assert version and version != "unknown"
    for html_path in (pretrained["report"], classifier["report"]):
        html = open(html_path, encoding="utf-8").read()
        for fragment in (version, "Run time", "Parameters", "Versions", "torch", "sklearn", "gdal",
                         "numpy", "patch_size", "epochs", "seed"):
            assert fragment in html, (html_path, fragment)
    # Benchmark-only pretraining settings left at their defaults stay out of the analyst's report
    # and in the model file.
    html = open(pretrained["report"], encoding="utf-8").read()
    training = torch.load(pretrained["model"], weights_only=True)["metadata"]["training"]
    for setting in ("within_modality", "neighbour_positives", "barlow_off_diagonal", "widths"):
        assert setting not in html and setting in training, setting
    html = open(classifier["report"], encoding="utf-8").read()
    training = torch.load(classifier["model"], weights_only=True)["metadata"]["training"]
    for setting in ("class_balanced", "freeze_batchnorm", "min_steps", "probe_epochs"):
        assert setting not in html and setting in training, setting
    record = json.load(open(os.path.splitext(classifier["report"])[0] + ".json", encoding="utf-8"))
    assert record["versions"]["plugin"] == version
    assert {"torch", "sklearn", "gdal", "numpy", "python"} <= set(record["versions"])
    assert record["seconds"] > 0
    assert record["training"]["seed"] == 1 and record["training"]["patch_size"] == 5
    assert record["training"]["train_ratio"] == 0.8
    # The checkpoints carry the same record (mmsiam:classify writes no report of its own).
    for path in (pretrained["model"], classifier["model"]):
        meta = torch.load(path, weights_only=True)["metadata"]
        assert meta["plugin_version"] == version and meta["seconds"] > 0 and meta["versions"]["torch"]


def test_evaluate_names_a_fold_that_tests_a_class_it_cannot_train_on(plugin, para, pretrained, tmp_path):
    """One 'water' point lies in one spatial block: whichever fold tests it trains on no water.
    The analyst is told in the log and in the report instead of reading a low score unexplained."""
    import processing

    log = Log()
    report = str(tmp_path / "evaluation.html")
    processing.run("mmsiam:evaluate", dict(
        both(para), LABELS=para["one_water"], CLASS_FIELD="class_id", PRETRAINED=pretrained["model"],
        SPLIT="blocks", FOLDS=2, BLOCK_SIZE=39, TRAIN_RATIOS="1", EPOCHS=1, SEEDS="5", NETWORKS=2,
        OUTPUT_TABLE=str(tmp_path / "evaluation.csv"), OUTPUT_REPORT=report), feedback=log)
    named = [w for w in log.warnings if "trains on none of it" in w]
    assert len(named) == 1 and "(1 pixel)" in named[0] and "BLOCK_SIZE" in named[0], log.warnings
    assert not log.errors  # caveats, shown as QGIS warnings, not as errors
    result = json.load(open(os.path.splitext(report)[0] + ".json", encoding="utf-8"))
    assert [sum(f["classes"].values()) for f in result["untrained_folds"]] == [1]
    assert result["parameters"]["networks"] == 2  # the default classifier's trainings of the network
    html = open(report, encoding="utf-8").read()
    assert "training part lacks" in html and "(1 test pixel)" in html
    # ... and the other fold tests no water at all: its AA and mIoU average over fewer classes
    (water,) = result["untrained_folds"][0]["classes"]
    other = 3 - result["untrained_folds"][0]["fold"]
    assert any(f["fold"] == other and water in f["classes"] for f in result["untested_folds"])
    assert result["all_folds"] == 2
    told = [w for w in log.warnings if "test folds hold no labelled pixel of some classes" in w]
    assert len(told) == 1 and f"fold {other}: " in told[0] and "mIoU equal to its OA" in told[0], log.warnings
    assert html.count("test folds hold no labelled pixel of some classes") == 1
    assert "averages 2 training(s) of the pretrained network" in html


def test_training_report_scores_the_classic_classifiers_on_the_same_validation_pixels(plugin, para, tmp_path):
    """The analyst sees, in every training report, what a forest, a shrinkage LDA and a logistic
    regression score on the same validation pixels. CLASSIFIER=linear is that same LDA, so its
    accuracy must match the report's LDA row (up to one pixel of float32 rounding)."""
    import processing

    report = str(tmp_path / "linear.html")
    processing.run("mmsiam:trainclassifier", dict(
        both(para), LABELS=para["polygons"], CLASS_FIELD="class_id", CLASSIFIER="linear", TRAIN_RATIO=0.3,
        **TINY, OUTPUT_MODEL=str(tmp_path / "linear.pt"), OUTPUT_REPORT=report))
    result = json.load(open(os.path.splitext(report)[0] + ".json", encoding="utf-8"))
    baselines, n = result["classic_baselines"], result["samples"]["validation"]
    assert set(baselines) == {"random_forest", "lda", "logistic"} and n > 100
    assert abs(baselines["lda"]["overall_accuracy"] - result["assessment"]["overall_accuracy"]) <= 1 / n + 1e-9
    for scores in baselines.values():
        assert 0.3 < scores["overall_accuracy"] <= 1 and 0 < scores["mean_iou"] <= 1
    html = open(report, encoding="utf-8").read()
    assert "The same validation pixels, classic classifiers" in html and "random forest" in html
    # CLASSIFIER=linear is the spectral path alone already: no second row for it
    assert result["spectral_path_alone"] is None and "its spectral path alone" not in html


def test_training_report_scores_the_default_classifiers_spectral_path_alone(plugin, para, tmp_path):
    """The default 'ensemble' report also scores its own spectral path alone on the same validation
    pixels (what CLASSIFIER=linear gives), so the analyst sees what the networks add to the map.
    With the same split and seed, CLASSIFIER=linear's own accuracy is that row's."""
    import processing

    log = Log()
    reports = {c: str(tmp_path / f"{c}.html") for c in ("ensemble", "linear")}
    for classifier, report in reports.items():
        processing.run("mmsiam:trainclassifier", dict(
            both(para), LABELS=para["polygons"], CLASS_FIELD="class_id", CLASSIFIER=classifier, TRAIN_RATIO=0.3,
            **TINY, OUTPUT_MODEL=str(tmp_path / f"{classifier}.pt"), OUTPUT_REPORT=report), feedback=log)
    results = {c: json.load(open(os.path.splitext(r)[0] + ".json", encoding="utf-8")) for c, r in reports.items()}
    alone = results["ensemble"]["spectral_path_alone"]
    assert set(alone) == {"overall_accuracy", "mean_iou", "kappa"} and 0.3 < alone["overall_accuracy"] <= 1
    assert alone["overall_accuracy"] == pytest.approx(results["linear"]["assessment"]["overall_accuracy"], abs=1e-6)
    assert alone["mean_iou"] == pytest.approx(results["linear"]["assessment"]["mean_iou"], abs=1e-6)
    html = open(reports["ensemble"], encoding="utf-8").read()
    assert "its spectral path alone (CLASSIFIER=linear)" in html and "what the networks add" in html
    assert any(line.startswith("Its spectral path alone (CLASSIFIER=linear, no network) on the same validation "
                               f"pixels: overall accuracy {100 * alone['overall_accuracy']:.1f} %")
               for line in log.lines), log.lines


def test_classic_classifiers_of_the_report_train_on_a_bounded_sample(plugin, para, tmp_path, monkeypatch):
    """Polygons can give 10⁵ training pixels: the report's classic classifiers then train on a
    random subset (bounded time and memory), and the log says so."""
    import processing

    from multimodal_siamese.core.jobs import classifier_run

    monkeypatch.setattr(classifier_run, "CLASSIC_MAX_TRAINING", 50)

    log = Log()
    report = str(tmp_path / "report.html")
    processing.run("mmsiam:trainclassifier", dict(
        both(para), LABELS=para["polygons"], CLASS_FIELD="class_id", TRAIN_RATIO=0.3, **TINY,
        OUTPUT_MODEL=str(tmp_path / "model.pt"), OUTPUT_REPORT=report), feedback=log)
    assert any("train on a random 50 of the training pixels" in line for line in log.lines), log.lines
    result = json.load(open(os.path.splitext(report)[0] + ".json", encoding="utf-8"))
    assert set(result["classic_baselines"]) == {"random_forest", "lda", "logistic"}
    assert result["samples"]["training"] > 50


def test_test_time_flips_are_saved_in_the_model_and_change_only_the_probabilities(plugin, para, pretrained, tmp_path):
    """TEST_TIME_FLIPS (on by default) trains the same networks, saves the choice in the model file
    and the report, and classify then averages each network over the 8 flips and quarter turns of
    every patch: the same weights give other class probabilities."""
    import processing

    maps = {}
    models = {}
    for name, flips in (("flips", None), ("plain", False)):
        extra = {} if flips is None else {"TEST_TIME_FLIPS": flips}
        report = str(tmp_path / f"{name}.html")
        processing.run("mmsiam:trainclassifier", dict(
            both(para), LABELS=para["points"], CLASS_FIELD="class_id", PRETRAINED=pretrained["model"],
            **dict(TINY, EPOCHS=2), NETWORKS=1, OUTPUT_MODEL=str(tmp_path / f"{name}.pt"),
            OUTPUT_REPORT=report, **extra))
        models[name] = torch.load(str(tmp_path / f"{name}.pt"), weights_only=True)
        html = open(report, encoding="utf-8").read()
        assert ("over the 8 flips and quarter turns" in html) == (flips is None)
        log = Log()
        result = processing.run("mmsiam:classify", dict(
            both(para), MODEL=str(tmp_path / f"{name}.pt"), DEVICE="cpu", OUTPUT=str(tmp_path / f"{name}.tif"),
            OUTPUT_CONFIDENCE=str(tmp_path / f"{name}_confidence.tif")), feedback=log)
        # the log says why such a map takes longer
        assert any("test-time flips" in line for line in log.lines) == (flips is None)
        with rasterio.open(result["OUTPUT"]) as out, rasterio.open(result["OUTPUT_CONFIDENCE"]) as conf:
            maps[name] = out.read(1), conf.read(1)
    assert models["flips"]["metadata"]["architecture"]["test_time_flips"] is True
    assert models["plain"]["metadata"]["architecture"]["test_time_flips"] is False
    for key, value in models["plain"]["state_dict"].items():
        assert torch.equal(models["flips"]["state_dict"][key], value), key
    (codes, confidence), (plain_codes, plain_confidence) = maps["flips"], maps["plain"]
    assert len(np.unique(codes)) >= 2
    valid = confidence >= 0
    # the same networks, each now averaged over 8 views: other probabilities on most pixels (the
    # LDA half of the average decides most classes, which may all stay)
    assert (np.abs(confidence - plain_confidence)[valid] > 1e-4).mean() > 0.5
    assert (codes == plain_codes).mean() > 0.5


def test_networks_sets_how_many_trainings_the_ensemble_averages(plugin, para, pretrained, tmp_path):
    """NETWORKS=2: two trainings of the network (seeds SEED and SEED + 1000) in one model file; the
    log, the report and the model say so, and classify runs all of them. NETWORKS=1 is one
    network, the first of those two, weight for weight."""
    import processing

    def train(name, networks, log=None):
        report = str(tmp_path / f"{name}.html")
        processing.run("mmsiam:trainclassifier", dict(
            both(para), LABELS=para["points"], CLASS_FIELD="class_id", PRETRAINED=pretrained["model"],
            **dict(TINY, EPOCHS=2), NETWORKS=networks, OUTPUT_MODEL=str(tmp_path / f"{name}.pt"),
            OUTPUT_REPORT=report), feedback=log)
        return torch.load(str(tmp_path / f"{name}.pt"), weights_only=True), report

    log = Log()
    two, report = train("two", 2, log)
    one, _ = train("one", 1)
    assert two["metadata"]["architecture"]["networks"] == 2 and one["metadata"]["architecture"]["networks"] == 1
    assert any("2 networks from seeds 1, 1001" in line for line in log.lines), log.lines
    assert sum("network 2/2  epoch" in line for line in log.lines) == 2
    members = {k for k in two["state_dict"] if k.startswith("members.")}
    assert members and not any(k.startswith("members.") for k in one["state_dict"])
    for key, value in one["state_dict"].items():
        assert torch.equal(two["state_dict"][key], value), key
    assert not torch.equal(two["state_dict"]["linear.weight"], two["state_dict"]["members.0.linear.weight"])
    html = open(report, encoding="utf-8").read()
    assert "2 trainings from different seeds" in html and "mean over the 2 networks" in html
    # with test-time flips (the default) the networks share the 8 views out: 4 each, 8 passes in
    # all; one network keeps all 8
    assert two["metadata"]["architecture"]["views_per_network"] == 4
    assert one["metadata"]["architecture"]["views_per_network"] == 8
    assert "shared out between the 2 networks (4 views each)" in html
    log = Log()
    result = processing.run("mmsiam:classify", dict(both(para), MODEL=str(tmp_path / "two.pt"), DEVICE="cpu",
                                                     OUTPUT=str(tmp_path / "two.tif")), feedback=log)
    assert any("2 networks each look at 4 flipped and turned copies" in line and "8 network passes instead of 2"
               in line for line in log.lines), log.lines
    with rasterio.open(result["OUTPUT"]) as out:
        codes = np.unique(out.read(1))
    assert len(codes) >= 2
    # a model file written before the networks shared the views out (no 'views_per_network') is
    # classified as it was trained: every network over all 8
    from multimodal_siamese.models.checkpoint import save_checkpoint

    metadata = dict(two["metadata"], architecture={k: v for k, v in two["metadata"]["architecture"].items()
                                                   if k != "views_per_network"})
    save_checkpoint(str(tmp_path / "old.pt"), "classifier", two["state_dict"], metadata)
    log = Log()
    processing.run("mmsiam:classify", dict(both(para), MODEL=str(tmp_path / "old.pt"), DEVICE="cpu",
                                           OUTPUT=str(tmp_path / "old.tif")), feedback=log)
    assert any("2 networks each look at 8 flipped and turned copies" in line and "16 network passes instead of 2"
               in line for line in log.lines), log.lines


def test_spectral_context_auto_lets_the_labels_decide_and_on_off_force_it(plugin, para, tmp_path):
    """SPECTRAL_CONTEXT: 'auto' (the default) scores the LDA with and without the patch's mean
    spectrum on spatially blocked folds of the labels and keeps the better; the log, the report
    and the model file say which and why. 'on' and 'off' force it, and classify maps with what
    the model holds."""
    import processing

    models, maps = {}, {}
    for setting in ("auto", "on", "off"):
        extra = {} if setting == "auto" else {"SPECTRAL_CONTEXT": setting}
        log, report = Log(), str(tmp_path / f"{setting}.html")
        processing.run("mmsiam:trainclassifier", dict(
            both(para), LABELS=para["polygons"], CLASS_FIELD="class_id", **TINY, CLASSIFIER="linear",
            OUTPUT_MODEL=str(tmp_path / f"{setting}.pt"), OUTPUT_REPORT=report, **extra), feedback=log)
        models[setting] = torch.load(str(tmp_path / f"{setting}.pt"), weights_only=True)["metadata"]
        choice = models[setting]["spectral_context"]
        assert choice["setting"] == setting
        assert models[setting]["architecture"]["band_context"] is choice["use"]
        said = [line for line in log.lines if line.startswith("Spectral path: the 5×5 patch's mean spectrum")]
        assert said and said[0][len("Spectral path: "):] == choice["sentence"], log.lines
        assert escape(choice["sentence"]) in open(report, encoding="utf-8").read()
        result = processing.run("mmsiam:classify", dict(both(para), MODEL=str(tmp_path / f"{setting}.pt"),
                                                         DEVICE="cpu", OUTPUT=str(tmp_path / f"{setting}.tif")))
        with rasterio.open(result["OUTPUT"]) as out:
            maps[setting] = out.read(1)
    auto = models["auto"]["spectral_context"]
    assert auto["scored"] > 0 and "spatially blocked cross-validation" in auto["sentence"]
    assert auto["use"] is (auto["context_loss"] < auto["centre_loss"])
    assert models["on"]["spectral_context"]["use"] is True and models["off"]["spectral_context"]["use"] is False
    assert (maps["on"] != maps["off"]).any() and len(np.unique(maps["off"])) >= 2
    assert np.array_equal(maps["auto"], maps["on" if auto["use"] else "off"])
