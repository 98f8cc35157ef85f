"""Suggested sites: valid, spaced, away from labels, inside the mask, reproducible; the layer."""

import numpy as np
import pytest
import torch
from osgeo import ogr

from multimodal_siamese.core.io import raster
from multimodal_siamese.core.jobs import suggest_run
from multimodal_siamese.core.errors import InputError
from multimodal_siamese.core.io.labels import ClassInfo, LabelFeatures, polygon_mask

CLASSES = [ClassInfo(1, 1, "roof", "#ff0000"), ClassInfo(2, 2, "tree", "#00ff00"),
           ClassInfo(3, 3, "water", "#0000ff")]


@pytest.fixture(scope="module")
def model(tahoe):
    from multimodal_siamese.models.network import FusionClassifier

    torch.manual_seed(0)
    model = FusionClassifier(tahoe.stack.band_counts, 7, len(CLASSES), dim=64)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def square_mask(grid, row0, col0, size) -> LabelFeatures:
    a = grid.affine
    x0, y0 = raster.apply_affine(a, col0, row0)
    x1, y1 = raster.apply_affine(a, col0 + size, row0 + size)
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
        ring.AddPoint_2D(x, y)
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    return LabelFeatures([bytes(polygon.ExportToWkb())], [1], grid.crs_wkt, "mask", "")


@pytest.mark.parametrize("strategy", suggest_run.STRATEGIES)
def test_sites_are_valid_spaced_away_from_labels_inside_mask_and_reproducible(tahoe, model, strategy):
    grid = tahoe.stack.grid
    allowed = polygon_mask(square_mask(grid, 50, 60, 300), grid)
    assert allowed.sum() == 300 * 300
    labelled = (np.array([200, 120]), np.array([200, 250]))
    run = dict(count=25, strategy=strategy, min_distance=14, labelled=labelled, allowed=allowed,
               seed=5, memory_mb=4)
    sites = suggest_run.suggest_sites(model, tahoe, **run)
    rows, cols = sites["rows"], sites["cols"]
    assert len(rows) == 25
    assert tahoe.valid_mask()[rows, cols].all() and allowed[rows, cols].all()
    d = np.hypot(rows[:, None] - rows[None], cols[:, None] - cols[None]) + 1e9 * np.eye(len(rows))
    assert d.min() >= 14
    for r, c in zip(*labelled):
        assert np.hypot(rows - r, cols - c).min() >= 14
    assert ((sites["confidence"] > 0) & (sites["confidence"] <= 1)).all()
    again = suggest_run.suggest_sites(model, tahoe, **run)
    assert (again["rows"] == rows).all() and (again["cols"] == cols).all()
    if strategy != "random":  # ranked most uncertain first
        assert sites["uncertainty"].max() == sites["uncertainty"][0]


def test_uncertainty_picks_are_among_the_most_uncertain_pixels(tahoe, model):
    sites = suggest_run.suggest_sites(model, tahoe, count=10, strategy="uncertainty", min_distance=0)
    from multimodal_siamese.core.learn.finetune import predict_samples

    arrays, valid = tahoe.read()
    rows, cols = np.nonzero(valid)
    _, p = predict_samples(model, arrays, rows, cols, batch_size=8192)
    u = suggest_run.uncertainty_of(torch.from_numpy(p.T)).numpy()
    assert sites["uncertainty"].min() >= np.sort(u)[-10] - 1e-5


def test_diversity_spreads_sites_over_feature_space_more_than_uncertainty_alone(tahoe, model):
    run = dict(count=20, min_distance=2, seed=1)
    plain = suggest_run.suggest_sites(model, tahoe, strategy="uncertainty", **run)
    diverse = suggest_run.suggest_sites(model, tahoe, strategy="uncertainty_diversity", **run)
    spread = [len(set(zip(s["rows"] // 100, s["cols"] // 100))) for s in (plain, diverse)]
    assert spread[1] >= spread[0]


def test_count_larger_than_allowed_pixels_is_refused(tahoe, model):
    grid = tahoe.stack.grid
    allowed = polygon_mask(square_mask(grid, 10, 10, 3), grid)
    with pytest.raises(InputError, match="only 9 valid pixels"):
        suggest_run.suggest_sites(model, tahoe, count=10, allowed=allowed)


def test_uncertainty_measures():
    p = torch.tensor([[0.5, 1.0, 0.4], [0.5, 0.0, 0.35], [0.0, 0.0, 0.25]])
    assert suggest_run.uncertainty_of(p).tolist() == pytest.approx([1.0, 0.0, 0.95])
    entropy = suggest_run.uncertainty_of(p, "entropy")
    assert entropy[1] == pytest.approx(0, abs=1e-6) and entropy[2] > entropy[0]


def test_sites_layer_fields_and_crs(tahoe, tmp_path):
    sites = {"rows": np.array([3, 7]), "cols": np.array([5, 9]), "class_index": np.array([2, 0]),
             "confidence": np.array([0.51, 0.4])}
    path = str(tmp_path / "sites.gpkg")
    suggest_run.write_sites(path, tahoe.stack.grid, sites, CLASSES)
    dataset = ogr.Open(path)
    layer = dataset.GetLayer(0)
    assert layer.GetName() == "suggested_sites"
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    assert names == ["class_id", "suggested_class", "suggested_name", "confidence", "rank"]
    features = list(layer)
    assert [f.GetField("rank") for f in features] == [1, 2]
    assert not features[0].IsFieldSetAndNotNull("class_id")
    assert features[0].GetField("suggested_name") == "water" and features[0].GetField("suggested_class") == 3
    x, y = features[0].GetGeometryRef().GetX(), features[0].GetGeometryRef().GetY()
    col, row = raster.apply_affine(~tahoe.stack.grid.affine, x, y)
    assert (row, col) == pytest.approx((3.5, 5.5))
    del features, layer, dataset
    assert [p.name for p in tmp_path.iterdir()] == ["sites.gpkg"]
