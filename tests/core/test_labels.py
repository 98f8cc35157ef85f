"""Label extraction on real data, checked against GDAL's rasterizer."""

import os

import numpy as np
import pytest
from osgeo import gdal, ogr

from multimodal_siamese.core.io import labels, raster
from multimodal_siamese.core.errors import InputError

gdal.UseExceptions()


def gdal_burn(grid, vector_path, where=None):
    """Independent count: GDAL rasterizes the layer's features (pixel-centre rule)."""
    ds = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Int16)
    ds.SetGeoTransform((grid.transform[2], grid.transform[0], 0, grid.transform[5], 0, grid.transform[4]))
    ds.SetProjection(grid.crs_wkt)
    gdal.Rasterize(ds, vector_path, burnValues=[1], where=where)
    return ds.GetRasterBand(1).ReadAsArray().astype(bool)


def stack_and_valid(paths):
    stack = raster.AlignedStack.open([raster.ModalityInput(f"M{i}", p) for i, p in enumerate(paths)])
    stats, _ = raster.scan(stack)
    _, valid = raster.read_normalised(stack, stats)
    return stack, valid


def test_potsdam_points_match_gdal(data_dir):
    d = os.path.join(data_dir, "potsdam")
    stack, valid = stack_and_valid([os.path.join(d, "enmap_potsdam_vnir.vrt")])
    vector = os.path.join(d, "landcover_potsdam_samples.gpkg")
    samples = labels.rasterize_labels(labels.read_label_features(vector, "class_id"), stack.grid, valid)
    assert samples.used_per_class() == {"1": 505, "2": 953, "3": 1694, "4": 2070, "5": 91, "6": 359}
    assert [c.code for c in samples.classes] == [1, 2, 3, 4, 5, 6]
    for code in range(1, 7):
        burned = gdal_burn(stack.grid, vector, where=f"class_id = {code}") & valid
        ours = np.zeros_like(burned)
        ours[samples.rows[samples.class_index == code - 1], samples.cols[samples.class_index == code - 1]] = True
        np.testing.assert_array_equal(ours, burned)
    stack.close()


def test_potsdam_hand_points_text_field_drop_counts(data_dir):
    d = os.path.join(data_dir, "potsdam")
    stack, valid = stack_and_valid([os.path.join(d, "enmap_potsdam_vnir.vrt")])
    feats = labels.read_label_features(os.path.join(d, "landcover_potsdam_point.gpkg"), "level_2")
    samples = labels.rasterize_labels(feats, stack.grid, valid)
    assert [c.code for c in samples.classes] == list(range(1, len(samples.classes) + 1))
    assert samples.classes[0].name == "impervious"  # text values sorted, codes 1..K
    used = sum(samples.used_per_class().values())
    lost = sum(v for c in samples.dropped.values() for v in c.values())
    assert used == 57  # the data README: only 57 of the 120 points fall on valid pixels
    assert used + lost + samples.empty_class_features == 120
    stack.close()


def test_tahoe_points_text_species(data_dir):
    d = os.path.join(data_dir, "tahoe")
    stack, valid = stack_and_valid([os.path.join(d, "tahoe_highrez.tif")])
    feats = labels.read_label_features(os.path.join(d, "tahoe_training_points.gpkg"), "SPECIES")
    samples = labels.rasterize_labels(feats, stack.grid, valid)
    assert samples.used_per_class() == {"Non-vegetation": 13, "Shrub": 11, "Tree": 6}
    assert samples.geometry_kind == "point"
    stack.close()


def test_tahoe_polygons_pixel_centres_match_gdal(data_dir):
    d = os.path.join(data_dir, "tahoe")
    stack, valid = stack_and_valid([os.path.join(d, "tahoe_highrez.tif"),
                                    os.path.join(d, "tahoe_lidar_highesthit.tif")])
    vector = os.path.join(d, "tahoe_training_polygons.gpkg")
    samples = labels.rasterize_labels(labels.read_label_features(vector, "Class"), stack.grid, valid)
    assert samples.geometry_kind == "polygon"
    counts = samples.used_per_class()
    assert counts == {"Non-vegetated": 428, "Shrub": 1404, "Tree": 411}
    for k, c in enumerate(samples.classes):
        burned = gdal_burn(stack.grid, vector, where=f"Class = '{c.value}'") & valid
        assert int(burned.sum()) == counts[c.name]
    stack.close()


def test_para_polygons_integer_classes(data_dir):
    d = os.path.join(data_dir, "para_sentinel2")
    stack, valid = stack_and_valid([os.path.join(d, "sen2.tif"), os.path.join(d, "srtm_sen2.tif")])
    vector = os.path.join(d, "training_polygons_sen2.gpkg")
    samples = labels.rasterize_labels(labels.read_label_features(vector, "class_id"), stack.grid, valid)
    for c in samples.classes:
        burned = gdal_burn(stack.grid, vector, where=f"class_id = {c.value}") & valid
        assert samples.used_per_class()[c.name] == int(burned.sum()) > 0
    stack.close()


def test_points_in_other_crs_are_reprojected(data_dir, tmp_path):
    d = os.path.join(data_dir, "potsdam")
    stack, valid = stack_and_valid([os.path.join(d, "enmap_potsdam_vnir.vrt")])
    wgs84 = str(tmp_path / "samples_4326.gpkg")
    gdal.VectorTranslate(wgs84, os.path.join(d, "landcover_potsdam_samples.gpkg"), dstSRS="EPSG:4326")
    samples = labels.rasterize_labels(labels.read_label_features(wgs84, "class_id"), stack.grid, valid)
    original = labels.rasterize_labels(labels.read_label_features(
        os.path.join(d, "landcover_potsdam_samples.gpkg"), "class_id"), stack.grid, valid)
    # Pixel centres survive a round trip through lon/lat: the same pixels as without it (whatever
    # PROJ's version), 5672 with this data.
    assert len(samples.rows) == len(original.rows) > 5000
    assert np.array_equal(samples.rows, original.rows) and np.array_equal(samples.cols, original.cols)
    stack.close()


def test_conflicting_and_empty_labels_are_counted(tmp_path, data_dir):
    d = os.path.join(data_dir, "potsdam")
    stack, valid = stack_and_valid([os.path.join(d, "enmap_potsdam_vnir.vrt")])
    r, c = np.argwhere(valid)[0]
    x, y = raster.apply_affine(stack.grid.affine, c + 0.5, r + 0.5)
    point = ogr.Geometry(ogr.wkbPoint)
    point.AddPoint_2D(x, y)
    wkb = bytes(point.ExportToWkb())
    feats = labels.LabelFeatures([wkb, wkb, wkb, None], [1, 2, None, 3], stack.grid.crs_wkt)
    samples = labels.rasterize_labels(feats, stack.grid, valid)
    assert len(samples.rows) == 0
    assert samples.dropped["1"]["conflict"] == 1 and samples.dropped["2"]["conflict"] == 1
    assert samples.empty_class_features == 2
    stack.close()


def test_all_null_class_field_and_missing_field_are_explained(data_dir):
    d = os.path.join(data_dir, "tahoe")
    with pytest.raises(InputError, match="no field 'nope'.*SPECIES"):
        labels.read_label_features(os.path.join(d, "tahoe_training_points.gpkg"), "nope")
    with pytest.raises(InputError, match="class field is empty"):
        labels.build_class_table([None, None, " "])


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist"),
    (b"not a vector file", "could not be opened as a vector layer"),
    (b"", "could not be opened as a vector layer"),
])
def test_label_file_that_cannot_be_opened_gets_one_sentence(tmp_path, content, fragment):
    """A failed ogr.Open (None on GDAL 3.6, an exception on later GDAL) is an InputError."""
    path = tmp_path / "labels.gpkg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=fragment) as err:
        labels.read_label_features(str(path), "class_id")
    message = str(err.value)
    assert str(path) in message and message.count(". ") <= 2 and "Traceback" not in message


def test_integer_codes_out_of_raster_range_are_refused():
    with pytest.raises(InputError, match="between 1 and 254"):
        labels.build_class_table([0, 1, 2])


# -- the class field: detected when left empty, refused when it makes single-sample classes -----

from multimodal_siamese.core.io.labels import FieldSummary, guess_class_field  # noqa: E402


def _point(x, y):
    point = ogr.Geometry(ogr.wkbPoint)
    point.AddPoint_2D(x, y)
    return bytes(point.ExportToWkb())


def _fields(*specs):
    return [FieldSummary(name, numeric, integer, distinct, features)
            for name, numeric, integer, distinct, features in specs]


@pytest.mark.parametrize("fields, expected", [
    # Tahoe points: fid, SPECIES (text, 3 values)
    (_fields(("fid", True, True, 30, 30), ("SPECIES", False, False, 3, 30)), "SPECIES"),
    # Tahoe polygons: fid, ID (one per polygon), Class
    (_fields(("fid", True, True, 8, 8), ("ID", True, True, 8, 8), ("Class", False, False, 3, 8)), "Class"),
    # Pará: class_id and class: the text names the classes
    (_fields(("fid", True, True, 25, 25), ("class_id", True, True, 4, 25), ("class", False, False, 4, 25)),
     "class"),
    # Potsdam points: level_1, level_2
    (_fields(("fid", True, True, 120, 120), ("level_1", False, False, 4, 120),
             ("level_2", False, False, 5, 120)), "level_1"),
    # an integer class code named like a class
    (_fields(("fid", True, True, 50, 50), ("lulc_code", True, True, 6, 50)), "lulc_code"),
    # no name hint: the first text field that is not an identifier
    (_fields(("fid", True, True, 50, 50), ("name_id", False, False, 50, 50), ("kind", False, False, 5, 50)),
     "kind"),
    # a float field is no class; nothing fits
    (_fields(("fid", True, True, 50, 50), ("height", True, False, 7, 50)), None),
])
def test_guess_class_field(fields, expected):
    assert guess_class_field(fields) == expected


def test_an_identifier_as_class_field_is_refused_with_one_sentence():
    features = labels.LabelFeatures([_point(0.5 + i, 0.5) for i in range(6)], list(range(1, 7)), "",
                                    "points", "fid")
    grid = raster.Grid("", (1, 0, 0, 0, -1, 1), 6, 1)
    samples = labels.rasterize_labels(features, grid, np.ones((1, 6), bool))
    with pytest.raises(InputError, match=r"gives 6 classes, 6 of them with fewer than 2 samples: is "
                                         r"CLASS_FIELD right\?"):
        labels.require_plausible_classes(samples, features)
    # Two samples per class pass.
    features.wkbs, features.values = features.wkbs * 2, features.values * 2
    labels.require_plausible_classes(labels.rasterize_labels(features, grid, np.ones((1, 6), bool)), features)
