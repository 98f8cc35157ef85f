"""Robustness of the QGIS-free core against an analyst's ordinary mistakes (issue 7).

Each refusal is an InputError / CheckpointError with one sentence naming what is wrong and what
to do; nothing is written on failure; gaps in some bands never become NaN.
"""

import os

import numpy as np
import pytest
from osgeo import gdal, ogr

from multimodal_siamese.core.output import atomic
from multimodal_siamese.core.io import labels, raster
from multimodal_siamese.core.jobs.classifier_run import train_and_save
from multimodal_siamese.core.jobs.classify_run import load_classifier
from multimodal_siamese.core.errors import InputError
from multimodal_siamese.core.learn.finetune import ClassifierConfig, stratified_split
from multimodal_siamese.core.io.inputs import GridOptions, prepare
from multimodal_siamese.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from multimodal_siamese.models.network import FusionClassifier
from mmsiam_test_data import GAP_BLOCK, HOLE_BLOCK, NODATA, crafted_model_files, punch_gaps

gdal.UseExceptions()

@pytest.fixture(scope="module")
def para(data_dir):
    d = os.path.join(data_dir, "para_sentinel2")
    return {"sen2": os.path.join(d, "sen2.tif"), "srtm": os.path.join(d, "srtm_sen2.tif"),
            "polygons": os.path.join(d, "training_polygons_sen2.gpkg")}


# ----------------------------------------------------------------------------- gaps


def test_partial_gaps_become_the_band_median_and_full_holes_are_invalid(para, tmp_path):
    gapped = punch_gaps(para["sen2"], str(tmp_path / "gapped.tif"))
    with raster.AlignedStack.open([raster.ModalityInput("MULTISPECTRAL", gapped)]) as stack:
        stats, _ = raster.scan(stack)
        (array,), valid = raster.read_normalised(stack, stats)
        raw = stack.read(0)
    original = gdal.Open(para["sen2"]).ReadAsArray()
    assert stack.infos[0].kept_bands == list(range(1, 13))  # a gap never drops a band
    assert np.isfinite(array).all()                         # NaN never leaves raster.py
    assert np.isnan(raw[:, HOLE_BLOCK[0], HOLE_BLOCK[1]]).all()  # -9999 read as no data
    # Partial gap: the pixel stays valid; the masked bands are 0 (= band median), the other bands
    # keep their own values, normalised as everywhere else.
    assert valid[GAP_BLOCK].all()
    assert (array[2:5][:, GAP_BLOCK[0], GAP_BLOCK[1]] == 0).all()
    others = [0, 1] + list(range(5, 12))
    inside = (others,) + GAP_BLOCK
    np.testing.assert_array_equal(raw[inside], original[inside])
    center = np.asarray(stats[0].center, np.float32)[others, None, None]
    scale = np.asarray(stats[0].scale, np.float32)[others, None, None]
    np.testing.assert_allclose(array[inside], np.clip((raw[inside] - center) / scale, -10, 10),
                               rtol=1e-5, atol=1e-5)
    # Full hole: invalid, 0 in every band.
    assert not valid[HOLE_BLOCK].any()
    assert (array[:, HOLE_BLOCK[0], HOLE_BLOCK[1]] == 0).all()


# ----------------------------------------------------------------------------- inputs


def test_modality_without_valid_pixel_is_named(para, tmp_path):
    empty = str(tmp_path / "empty_dem.tif")
    ds = gdal.Translate(empty, para["srtm"], noData=NODATA)
    ds.GetRasterBand(1).Fill(NODATA)
    ds = None
    with pytest.raises(InputError) as err:
        prepare([raster.ModalityInput("MULTISPECTRAL", para["sen2"]),
                 raster.ModalityInput("SAR", empty)], GridOptions())
    message = str(err.value)
    assert "SAR raster" in message and "empty_dem.tif" in message and "no valid pixel" in message
    assert "nodata value" in message


def _features(path, field, **kwargs):
    return labels.read_label_features(path, field, **kwargs)


def _shifted(features: labels.LabelFeatures, dx: float, dy: float) -> labels.LabelFeatures:
    wkbs = []
    for wkb in features.wkbs:
        geometry = ogr.CreateGeometryFromWkb(wkb)
        for r in range(geometry.GetGeometryCount()):
            ring = geometry.GetGeometryRef(r)
            for p in range(ring.GetPointCount()):
                ring.SetPoint_2D(p, ring.GetX(p) + dx, ring.GetY(p) + dy)
        wkbs.append(bytes(geometry.ExportToWkb()))
    return labels.LabelFeatures(wkbs, features.values, features.crs_wkt, "moved", features.field_name)


def test_labels_all_outside_the_common_extent_are_explained(para, tmp_path):
    prepared = prepare([raster.ModalityInput("MULTISPECTRAL", para["sen2"])], GridOptions())
    try:
        moved = _shifted(_features(para["polygons"], "class_id"), 5.0, 5.0)  # 5° away
        with pytest.raises(InputError) as err:
            train_and_save(prepared, moved, ClassifierConfig(patch_size=5, epochs=1),
                           str(tmp_path / "never.pt"))
    finally:
        prepared.close()
    message = str(err.value)
    assert "'moved'" in message and "common extent" in message and "all 25" in message
    assert "CRS" in message
    assert os.listdir(tmp_path) == []


def test_labels_only_on_nodata_pixels_are_explained(para, tmp_path):
    gapped = punch_gaps(para["sen2"], str(tmp_path / "gapped.tif"))
    prepared = prepare([raster.ModalityInput("MULTISPECTRAL", gapped)], GridOptions())
    try:
        affine = prepared.stack.grid.affine
        points = []
        for row, col in [(5, 5), (10, 30), (20, 40)]:  # inside HOLE_BLOCK: no data in any band
            x, y = raster.apply_affine(affine, col + 0.5, row + 0.5)
            points.append(bytes(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})").ExportToWkb()))
        features = labels.LabelFeatures(points, [1, 2, 2], prepared.stack.grid.crs_wkt, "in_hole")
        with pytest.raises(InputError) as err:
            train_and_save(prepared, features, ClassifierConfig(patch_size=5, epochs=1),
                           str(tmp_path / "never.pt"))
    finally:
        prepared.close()
    message = str(err.value)
    assert "label layer 'in_hole' has no usable sample" in message
    assert "0 labels lie outside" in message and "3 labelled pixels lack data" in message
    assert not os.path.exists(tmp_path / "never.pt")


def test_empty_class_field_and_empty_layer_name_layer_and_field(para):
    with raster.AlignedStack.open([raster.ModalityInput("M", para["srtm"])]) as stack:
        grid = stack.grid
    valid = np.ones((grid.height, grid.width), dtype=bool)
    features = _features(para["polygons"], "class_id")
    nulls = labels.LabelFeatures(features.wkbs, [None, " "] * 12 + [None], features.crs_wkt,
                                 "my_labels", "landuse")
    with pytest.raises(InputError, match=r"class field 'landuse' of the label layer 'my_labels' is "
                                         r"empty .* for all 25 features"):
        labels.rasterize_labels(nulls, grid, valid)
    with pytest.raises(InputError, match="label layer 'none' has no feature"):
        labels.rasterize_labels(labels.LabelFeatures([], [], "", "none", "class_id"), grid, valid)


def test_a_class_with_one_sample_cannot_be_split():
    classes = np.array([0, 0, 0, 1, 1, 1, 2])
    with pytest.raises(InputError, match=r"Class 'water' has only 1 usable sample.*TRAIN_RATIO"):
        stratified_split(classes, 0.7, 0, ["forest", "village", "water"])
    train, val = stratified_split(classes, 1.0, 0, ["forest", "village", "water"])
    assert len(train) == 7 and len(val) == 0


# ----------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("path, fragment", [
    ("{tmp}/missing/model.pt", "does not exist"),
    ("/etc/hostname/model.pt", "is a file, not a folder"),
    ("/sys/model.pt", "is not writable"),       # read-only even for root
    ("/proc/model.pt", "is not writable"),
    ("{tmp}", "is a folder"),
])
def test_unwritable_output_paths_are_refused(tmp_path, path, fragment):
    path = path.format(tmp=tmp_path)
    with pytest.raises(InputError, match=fragment) as err:
        atomic.check_output_folder(path, "classifier model")
    assert "classifier model" in str(err.value) and path in str(err.value)


def test_atomic_output_replaces_only_on_success(tmp_path):
    target = tmp_path / "map.tif"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic.atomic_output(str(target)) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half-writ")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["map.tif"]
    with atomic.atomic_output(str(target)) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["map.tif"]


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077])
def test_outputs_get_the_users_umask_like_any_other_file(tmp_path, umask):
    """Not mkstemp's private 0600: a colleague or a map server must be able to read the map."""
    model = FusionClassifier([3], 5, n_classes=2, dim=16)
    previous = os.umask(umask)
    try:
        with atomic.atomic_output(str(tmp_path / "map.tif")) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"map")
        save_checkpoint(tmp_path / "model.pt", "classifier", model.state_dict(), {})
    finally:
        os.umask(previous)
    for name in ("map.tif", "model.pt"):
        assert oct(os.stat(tmp_path / name).st_mode & 0o777) == oct(0o666 & ~umask), name


# ----------------------------------------------------------------------------- model files


def test_crafted_pickles_are_refused_without_running_code(tmp_path):
    zipped, legacy, marker = crafted_model_files(str(tmp_path))
    for path in (zipped, legacy):
        with pytest.raises(CheckpointError, match="could run code|not a valid model checkpoint"):
            load_checkpoint(path, expected_kind="classifier")
        with pytest.raises(CheckpointError):
            load_classifier(path)
    assert not os.path.exists(marker)


def test_truncated_and_inconsistent_classifier_files_are_refused(tmp_path):
    model = FusionClassifier([3], 5, n_classes=2, dim=16)
    good = tmp_path / "good.pt"
    save_checkpoint(good, "classifier", model.state_dict(),
                    {"architecture": dict(model.architecture(), band_counts=[4]),  # says 4 bands
                     "classes": [], "grid": {}, "modalities": []})
    with pytest.raises(CheckpointError, match="damaged classifier checkpoint.*Train the classifier again"):
        load_classifier(str(good))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_classifier(str(truncated))

