"""Fixtures shared by the QGIS-free core tests."""

import os

import pytest

from multimodal_siamese.core.io import inputs, raster


@pytest.fixture(scope="module")
def tahoe(data_dir):
    """The Tahoe aerial image + LiDAR surface, prepared on the image's grid (real data)."""
    d = os.path.join(data_dir, "tahoe")
    mods = [raster.ModalityInput("MULTISPECTRAL", os.path.join(d, "tahoe_highrez.tif")),
            raster.ModalityInput("SAR", os.path.join(d, "tahoe_lidar_highesthit.tif"))]
    prepared = inputs.prepare(mods, inputs.GridOptions())
    yield prepared
    prepared.close()
