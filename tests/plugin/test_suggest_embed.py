"""mmsiam:suggestsites and mmsiam:embed end to end, through processing.run and scripts/qgis_process,
on the real Lake Tahoe aerial photo + LiDAR (tiny training settings)."""

import json
import os

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr, osr
from qgis.core import QgsProcessingException, QgsVectorLayer

from feedback_log import Log
from multimodal_siamese.core.io.raster import apply_affine

gdal.UseExceptions()


@pytest.fixture(scope="module")
def models(plugin, tahoe, tmp_path_factory):
    import processing

    out = tmp_path_factory.mktemp("tahoe_models")
    classifier, pretrained = str(out / "classifier.pt"), str(out / "pretrained.pt")
    processing.run("mmsiam:trainclassifier", dict(tahoe["rasters"], LABELS=tahoe["LABELS"], CLASS_FIELD="SPECIES",
                                                  EPOCHS=3, SEED=1, OUTPUT_MODEL=classifier))
    processing.run("mmsiam:pretrain", dict(tahoe["rasters"], EPOCHS=1, SAMPLES_PER_EPOCH=256, BATCH_SIZE=64,
                                           SEED=1, OUTPUT_MODEL=pretrained))
    return {"classifier": classifier, "pretrained": pretrained}


def read_sites(path):
    dataset = ogr.Open(path)
    layer = dataset.GetLayer(0)
    rows = [(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY(), f.GetField("rank"),
             f.GetField("suggested_class"), f.GetField("class_id"), f.GetField("confidence"))
            for f in layer]
    wkt = layer.GetSpatialRef().ExportToWkt()
    del layer, dataset
    return rows, wkt


def test_suggest_via_processing_run_then_label_and_retrain(plugin, tahoe, models, tmp_path):
    import processing

    output = str(tmp_path / "sites.gpkg")
    parameters = dict(tahoe["rasters"], MODEL=models["classifier"], LABELS=tahoe["LABELS"],
                      CLASS_FIELD="SPECIES", COUNT=12, MASK=tahoe["polygons"], SEED=3, OUTPUT=output)
    log = Log()
    result = processing.run("mmsiam:suggestsites", parameters, feedback=log)
    assert result["OUTPUT"] == output
    sites, wkt = read_sites(output)
    assert len(sites) == 12 and [s[2] for s in sites] == list(range(1, 13))
    assert all(s[4] is None and s[3] in ("Tree", "Shrub", "Non-vegetation") and 0 < s[5] <= 1 for s in sites)
    with rasterio.open(tahoe["MULTISPECTRAL"]) as src:
        transform, crs = src.transform, src.crs
    assert osr.SpatialReference(wkt).IsSame(osr.SpatialReference(crs.to_wkt()))
    pixels = np.array([apply_affine(~transform, x, y) for x, y, *_ in sites])
    assert np.allclose(pixels % 1, 0.5)  # pixel centres
    rows, cols = np.floor(pixels[:, 1]).astype(int), np.floor(pixels[:, 0]).astype(int)
    # MIN_DISTANCE 0 = twice the model's patch size (5): at least 10 px apart, and from the labels.
    d = np.hypot(rows[:, None] - rows[None], cols[:, None] - cols[None]) + 1e9 * np.eye(12)
    assert d.min() >= 10
    dataset = ogr.Open(tahoe["LABELS"])
    labels = [apply_affine(~transform, f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY()) for f in dataset.GetLayer(0)]
    del dataset
    for col, row in labels:
        assert np.hypot(rows - int(row), cols - int(col)).min() >= 10
    # Inside the mask polygons.
    from multimodal_siamese.core.io.labels import polygon_mask, read_label_features
    from multimodal_siamese.core.io.raster import Grid

    with rasterio.open(tahoe["MULTISPECTRAL"]) as src:
        grid = Grid(src.crs.to_wkt(), tuple(src.transform)[:6], src.width, src.height)
    inside = polygon_mask(read_label_features(tahoe["polygons"], "ID"), grid)
    assert inside[rows, cols].all()
    assert any("Fill in class_id" in line for line in log.lines)
    # Same seed, same sites.
    again = str(tmp_path / "again.gpkg")
    processing.run("mmsiam:suggestsites", dict(parameters, OUTPUT=again))
    assert read_sites(again)[0] == sites
    # Styled and labelled by rank when loaded.
    layer = QgsVectorLayer(output, "sites", "ogr")
    layer.loadDefaultStyle()
    assert layer.labelsEnabled() and layer.labeling().settings().fieldName == "rank"
    # The analyst labels half of the sites (two of each class, as seen on the ground); the layer is
    # directly usable as training labels.
    dataset = ogr.Open(output, 1)
    layer = dataset.GetLayer(0)
    seen_classes = ("Non-vegetation", "Shrub", "Tree")
    for feature in layer:
        if feature.GetField("rank") <= 6:
            feature.SetField("class_id", seen_classes[feature.GetField("rank") % 3])
            layer.SetFeature(feature)
    del layer, dataset
    retrained = str(tmp_path / "retrained.pt")
    log = Log()
    processing.run("mmsiam:trainclassifier", dict(tahoe["rasters"], LABELS=output, CLASS_FIELD="class_id",
                                                  EPOCHS=1, OUTPUT_MODEL=retrained), feedback=log)
    assert os.path.exists(retrained)
    assert any("6 features have an empty class" in line for line in log.lines), log.lines


def test_suggest_and_embed_via_qgis_process(tahoe, models, tmp_path, qgis_process):
    sites = str(tmp_path / "random.gpkg")
    code, payload, text = qgis_process("mmsiam:suggestsites", dict(
        tahoe["rasters"], MODEL=models["classifier"], COUNT=7, STRATEGY="random", MIN_DISTANCE=20,
        SEED=2, OUTPUT=sites))
    assert code == 0, text
    assert len(read_sites(sites)[0]) == 7
    assert os.path.exists(os.path.join(tmp_path, "random.qml"))

    output, report = str(tmp_path / "embedding.tif"), str(tmp_path / "embedding.html")
    code, payload, text = qgis_process("mmsiam:embed", dict(
        tahoe["rasters"], MODEL=models["pretrained"], COMPONENTS=4, OUTPUT=output, OUTPUT_REPORT=report))
    assert code == 0, text
    assert payload["results"]["OUTPUT"] == output
    with rasterio.open(output) as src, rasterio.open(tahoe["MULTISPECTRAL"]) as ref:
        assert src.count == 4 and src.descriptions == ("pc1", "pc2", "pc3", "pc4")
        assert src.transform == ref.transform and src.crs == ref.crs and src.dtypes[0] == "float32"
        ratios = json.loads(src.tags()["EXPLAINED_VARIANCE_RATIO"])
        assert src.tags()["MODEL_KIND"] == "pretrained"
        assert np.isfinite(src.read(1)).mean() > 0.9
    assert len(ratios) == 4 and ratios[0] >= ratios[3] > 0
    assert "pc1" in open(report, encoding="utf-8").read()
    data = json.load(open(str(tmp_path / "embedding.json"), encoding="utf-8"))
    assert data["explained_variance_ratio"] == pytest.approx(ratios, abs=1e-5)
    assert "explains" in text  # the log gives the explained variance


def test_embed_of_a_classifier_trained_with_the_default_classifier(plugin, tahoe, models, tmp_path):
    """The default CLASSIFIER (ensemble) adds a spectral path to g's weights: embed must still read
    the file as a classifier (it refused it as 'damaged'), and z is f's fused input as for any."""
    import processing
    import torch

    assert torch.load(models["classifier"], weights_only=True)["metadata"]["architecture"]["classifier"] == "ensemble"
    output = str(tmp_path / "classifier_embedding.tif")
    result = processing.run("mmsiam:embed", dict(tahoe["rasters"], MODEL=models["classifier"], COMPONENTS=3,
                                                 OUTPUT=output))
    assert result["OUTPUT"] == output
    with rasterio.open(output) as src:
        assert src.count == 3 and src.tags()["MODEL_KIND"] == "classifier"
        assert np.isfinite(src.read(1)).mean() > 0.9


def far_polygon(path):
    """A polygon layer in EPSG:4326 far from Lake Tahoe."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = dataset.CreateLayer("mask", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POLYGON ((10 10, 10.1 10, 10.1 10.1, 10 10.1, 10 10))"))
    layer.CreateFeature(feature)
    del feature, layer, dataset
    return path


@pytest.mark.parametrize("case", ["model_does_not_fit", "count_too_large", "empty_mask", "embed_does_not_fit"])
def test_bad_inputs_get_one_sentence_and_no_output(plugin, tahoe, models, tmp_path, case):
    import processing

    sites = str(tmp_path / "sites.gpkg")
    base = dict(tahoe["rasters"], MODEL=models["classifier"], OUTPUT=sites)
    algorithm, expected = "mmsiam:suggestsites", ""
    if case == "model_does_not_fit":  # the one-band LiDAR in the three-band slot
        base.update(MULTISPECTRAL=tahoe["SAR"])
        expected = "MULTISPECTRAL raster .* has 1 band but the classifier model was trained with 3 bands"
    elif case == "count_too_large":
        base.update(COUNT=1_000_000, MIN_DISTANCE=1)
        expected = r"COUNT is 1000000 but only \d+ valid pixels are available"
    elif case == "empty_mask":
        base.update(MASK=far_polygon(str(tmp_path / "far.gpkg")))
        expected = "The MASK layer '.*' covers no valid pixel"
    else:
        algorithm, expected = "mmsiam:embed", "has 1 band but the pretrained model was trained with 3 bands"
        base = dict(MULTISPECTRAL=tahoe["SAR"], SAR=tahoe["SAR"], MODEL=models["pretrained"],
                    OUTPUT=str(tmp_path / "embedding.tif"))
    with pytest.raises(QgsProcessingException, match=expected) as error:
        processing.run(algorithm, base)
    assert str(error.value).count(". ") <= 2 and "Traceback" not in str(error.value)
    assert [p.name for p in tmp_path.iterdir() if p.suffix in (".gpkg", ".tif", ".qml") and p.name != "far.gpkg"] == []
