"""Multimodal raster core on real data: alignment, valid mask, dropped bands, normalisation."""

import os

import numpy as np
import pytest
import rasterio
import rasterio.crs
import rasterio.warp
from osgeo import gdal

from multimodal_siamese.core.io import raster
from multimodal_siamese.core.errors import InputError

gdal.UseExceptions()


def potsdam(data_dir):
    d = os.path.join(data_dir, "potsdam")
    return [raster.ModalityInput("HYPERSPECTRAL", os.path.join(d, "enmap_potsdam_vnir.vrt")),
            raster.ModalityInput("MULTISPECTRAL", os.path.join(d, "enmap_potsdam_swir.vrt"))]


def test_potsdam_vnir_swir_grid_valid_mask_and_bad_bands(data_dir):
    with raster.AlignedStack.open(potsdam(data_dir)) as stack:
        assert (stack.grid.width, stack.grid.height) == (160, 192)
        stats, n_valid = raster.scan(stack)
        # 40 % of the 160 x 192 grid is nodata (18 tiles of 32 x 32 are valid).
        assert n_valid == 18 * 32 * 32
        vnir, swir = stack.infos
        assert vnir.dropped_bands == [] and len(vnir.kept_bands) == 91
        # EnMAP bands 130-135 are SWIR bands 39-44 of the 92-224 VRT.
        assert swir.dropped_bands == list(range(39, 45))
        assert stack.band_counts == [91, 127]
        arrays, valid = raster.read_normalised(stack, stats)
        assert int(valid.sum()) == n_valid
        for a, s in zip(arrays, stats):
            assert np.isfinite(a).all()
            assert np.abs(a).max() <= raster.CLIP
            assert (a[:, ~valid] == 0).all()
            assert len(s.center) == a.shape[0]
            # Robust z-scores: each band's median over valid pixels is ~0.
            assert np.abs(np.median(a[:, valid], axis=1)).max() < 0.05


def test_tahoe_aerial_and_lidar_in_geographic_crs(data_dir):
    d = os.path.join(data_dir, "tahoe")
    mods = [raster.ModalityInput("MULTISPECTRAL", os.path.join(d, "tahoe_highrez.tif")),
            raster.ModalityInput("SAR", os.path.join(d, "tahoe_lidar_highesthit.tif")),
            raster.ModalityInput("EXTRA_1", os.path.join(d, "tahoe_lidar_bareearth.tif"))]
    with raster.AlignedStack.open(mods) as stack:
        assert "4326" in stack.grid.crs_wkt or "WGS 84" in stack.grid.crs_wkt
        assert (stack.grid.width, stack.grid.height) == (400, 400)
        stats, n_valid = raster.scan(stack)
        assert n_valid > 0.9 * 400 * 400
        arrays, valid = raster.read_normalised(stack, stats)
        assert [a.shape[0] for a in arrays] == [3, 1, 1]
        assert all(np.isfinite(a).all() for a in arrays)


def test_para_sentinel2_and_dem(data_dir):
    d = os.path.join(data_dir, "para_sentinel2")
    mods = [raster.ModalityInput("MULTISPECTRAL", os.path.join(d, "sen2.tif")),
            raster.ModalityInput("SAR", os.path.join(d, "srtm_sen2.tif"))]
    with raster.AlignedStack.open(mods) as stack:
        stats, n_valid = raster.scan(stack)
        assert stack.band_counts == [12, 1]
        assert stack.infos[0].kept_band_names[0].startswith("B1")
        assert n_valid > 0


@pytest.fixture(params=["as warped", "one row shorter"])
def reprojected_dem(data_dir, tmp_path, request):
    """The Pará DEM warped to UTM 22S at 20 m (a different CRS and resolution).

    "one row shorter" drops the last row, as another GDAL version's arithmetic may (3.10 gives
    118 rows where 3.6 gives 119): no expectation may depend on that."""
    src = os.path.join(data_dir, "para_sentinel2", "srtm_sen2.tif")
    out = str(tmp_path / "dem_utm.tif")
    gdal.Warp(out, src, dstSRS="EPSG:32722", xRes=20, yRes=20, resampleAlg="bilinear")
    if request.param == "one row shorter":
        info = gdal.Info(out, format="json")
        width, height = info["size"]
        shorter = str(tmp_path / "dem_utm_shorter.tif")
        gdal.Translate(shorter, out, srcWin=[0, 0, width, height - 1])
        out = shorter
    return src, out


def assert_reference_pixels_over_common_extent(grid, ref, other_path):
    """``grid`` is ``ref``'s pixel lattice, inside both footprints, short of them by < 1 pixel."""
    res_x, res_y = ref.res
    assert grid.resolution == pytest.approx((res_x, res_y))
    assert rasterio.crs.CRS.from_wkt(grid.crs_wkt) == ref.crs
    col = (grid.transform[2] - ref.transform.c) / res_x
    row = (ref.transform.f - grid.transform[5]) / res_y
    assert col == pytest.approx(round(col), abs=1e-6) and row == pytest.approx(round(row), abs=1e-6)
    with rasterio.open(other_path) as other:
        footprint = rasterio.warp.transform_bounds(other.crs, ref.crs, *other.bounds, densify_pts=21)
    common = (max(ref.bounds[0], footprint[0]), max(ref.bounds[1], footprint[1]),
              min(ref.bounds[2], footprint[2]), min(ref.bounds[3], footprint[3]))
    left, bottom, right, top = grid.bounds
    slack = (left - common[0], bottom - common[1], common[2] - right, common[3] - top)
    tolerance = (res_x, res_y, res_x, res_y)
    assert all(-1e-6 <= s < t + 1e-6 for s, t in zip(slack, tolerance)), (grid, common)


def overlap_of(grid_a, a, grid_b, b):
    """The parts of two arrays on two grids of the same lattice that cover the same pixels."""
    res_x, res_y = grid_a.resolution
    dc = round((grid_b.transform[2] - grid_a.transform[2]) / res_x)
    dr = round((grid_a.transform[5] - grid_b.transform[5]) / res_y)
    rows = slice(max(0, dr), min(grid_a.height, dr + grid_b.height))
    cols = slice(max(0, dc), min(grid_a.width, dc + grid_b.width))
    overlap_a = a[rows, cols]
    overlap_b = b[rows.start - dr:rows.stop - dr, cols.start - dc:cols.stop - dc]
    assert overlap_a.shape == overlap_b.shape and overlap_a.size > 0.9 * a.size
    return overlap_a, overlap_b


def test_other_crs_and_resolution_is_warped_back_onto_reference_grid(data_dir, reprojected_dem):
    original, warped = reprojected_dem
    sen2 = os.path.join(data_dir, "para_sentinel2", "sen2.tif")
    with raster.AlignedStack.open([raster.ModalityInput("MULTISPECTRAL", sen2),
                                   raster.ModalityInput("SAR", warped)]) as stack:
        assert stack._readers[1][0] == "warped"
        aligned = stack.read(1)[0]
        g = stack.grid
    with raster.AlignedStack.open([raster.ModalityInput("MULTISPECTRAL", sen2),
                                   raster.ModalityInput("SAR", original)]) as stack:
        g_original = stack.grid
        reference = stack.read(1)[0]
    # Both grids are the reference raster's own pixels over the common extent, whatever the other
    # modality's grid. How many 20 m rows gdal.Warp gives the reprojected DEM depends on the GDAL
    # version (119 on 3.6, 118 on 3.10), so the common extent is taken from the files themselves.
    with rasterio.open(sen2) as ref:
        for grid, other in ((g, warped), (g_original, original)):
            assert_reference_pixels_over_common_extent(grid, ref, other)
    # Compare the two reads where both grids overlap (the same pixels of sen2.tif).
    aligned, reference = overlap_of(g, aligned, g_original, reference)
    both = np.isfinite(aligned) & np.isfinite(reference)
    assert both.mean() > 0.9
    diff = np.abs(aligned[both] - reference[both])
    # Two bilinear resamplings of a ~10 m DEM: metre-level agreement.
    assert np.median(diff) < 1.0 and np.percentile(diff, 99) < 5.0
    assert np.corrcoef(aligned[both], reference[both])[0, 1] > 0.99


def test_reference_slot_and_explicit_resolution(data_dir, reprojected_dem):
    _, warped = reprojected_dem
    sen2 = os.path.join(data_dir, "para_sentinel2", "sen2.tif")
    mods = [raster.ModalityInput("MULTISPECTRAL", sen2), raster.ModalityInput("SAR", warped)]
    grid = raster.build_reference_grid(mods, reference_slot="SAR")
    assert "22S" in grid.crs_wkt and grid.resolution == pytest.approx((20.0, 20.0))
    coarse = raster.build_reference_grid(mods, resolution=0.0005)
    assert coarse.resolution == (0.0005, 0.0005)
    fine = raster.build_reference_grid(mods)
    assert coarse.width < fine.width
    with pytest.raises(InputError, match="not one of the given"):
        raster.build_reference_grid(mods, reference_slot="HYPERSPECTRAL")


def test_windowed_warped_read_equals_full_read(data_dir, reprojected_dem):
    _, warped = reprojected_dem
    sen2 = os.path.join(data_dir, "para_sentinel2", "sen2.tif")
    with raster.AlignedStack.open([raster.ModalityInput("MULTISPECTRAL", sen2),
                                   raster.ModalityInput("SAR", warped)]) as stack:
        full = stack.read(1)
        part = stack.read(1, (50, 70, 40, 33))
    np.testing.assert_array_equal(np.nan_to_num(part, nan=-1), np.nan_to_num(full[:, 50:90, 70:103], nan=-1))


def test_non_overlapping_modalities_are_refused(data_dir, tmp_path):
    src = os.path.join(data_dir, "para_sentinel2", "srtm_sen2.tif")
    shifted = str(tmp_path / "far_away.tif")
    gdal.Translate(shifted, src, outputBounds=[10.0, 10.1, 10.1, 10.0])
    sen2 = os.path.join(data_dir, "para_sentinel2", "sen2.tif")
    with pytest.raises(InputError, match="do not overlap"):
        raster.build_reference_grid([raster.ModalityInput("MULTISPECTRAL", sen2),
                                     raster.ModalityInput("SAR", shifted)])


def test_modality_without_any_valid_pixel_is_refused(data_dir, tmp_path):
    src = os.path.join(data_dir, "para_sentinel2", "srtm_sen2.tif")
    empty = str(tmp_path / "empty.tif")
    ds = gdal.Translate(empty, src)
    band = ds.GetRasterBand(1)
    band.Fill(-9999)
    band.SetNoDataValue(-9999)
    ds = None
    sen2 = os.path.join(data_dir, "para_sentinel2", "sen2.tif")
    with raster.AlignedStack.open([raster.ModalityInput("MULTISPECTRAL", sen2),
                                   raster.ModalityInput("SAR", empty)]) as stack:
        with pytest.raises(InputError, match="No pixel has data in every modality"):
            raster.scan(stack)


def test_partial_band_gap_is_filled_with_band_median(data_dir, tmp_path):
    """A cloud-masked band in an otherwise valid pixel becomes 0 (the band median), never NaN."""
    src = os.path.join(data_dir, "para_sentinel2", "sen2.tif")
    gappy = str(tmp_path / "gappy.tif")
    ds = gdal.Translate(gappy, src)
    band = ds.GetRasterBand(3)
    values = band.ReadAsArray()
    values[10:20, 10:20] = np.nan
    band.WriteArray(values)
    ds = None
    with raster.AlignedStack.open([raster.ModalityInput("MULTISPECTRAL", gappy)]) as stack:
        stats, _ = raster.scan(stack)
        (array,), valid = raster.read_normalised(stack, stats)
    assert valid[10:20, 10:20].all()  # other bands still have data there
    assert (array[2, 10:20, 10:20] == 0).all()
    assert np.isfinite(array).all()


def test_unreadable_raster_names_the_slot(tmp_path):
    bogus = tmp_path / "not_a_raster.tif"
    bogus.write_text("hello")
    with pytest.raises(InputError, match="SAR raster"):
        raster.build_reference_grid([raster.ModalityInput("SAR", str(bogus))])


def test_apply_affine_is_the_affine_product_without_the_deprecated_operator():
    import warnings

    affine = raster.Affine(30.0, 0.0, 350000.0, 0.0, -30.0, 5810000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = affine * (12.5, 7.5), ~affine * (350375.0, 5809775.0)
    assert raster.apply_affine(affine, 12.5, 7.5) == expected[0]
    assert raster.apply_affine(~affine, 350375.0, 5809775.0) == expected[1]
