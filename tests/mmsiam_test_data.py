"""Test inputs that several test files build the same way: gapped rasters, crafted model files."""

import os
import pickle

import numpy as np
import torch
from osgeo import gdal

NODATA = -9999.0
GAP_BLOCK = (slice(60, 140), slice(60, 160))   # NaN in bands 3-5 only (a cloud mask); on Pará it
#                                                holds 4 training polygons (and their centroids)
HOLE_BLOCK = (slice(0, 40), slice(0, 50))      # nodata in every band: no Pará polygon there


def punch_gaps(source: str, target: str) -> str:
    """A copy of a multiband raster with NaN in bands 3-5 of GAP_BLOCK and the declared nodata
    value in every band of HOLE_BLOCK."""
    ds = gdal.Translate(target, source, noData=NODATA, creationOptions=["COMPRESS=DEFLATE"])
    for b in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(b)
        values = band.ReadAsArray()
        if b in (3, 4, 5):
            values[GAP_BLOCK] = np.nan
        values[HOLE_BLOCK] = NODATA
        band.WriteArray(values)
    ds = None
    return target


class _RunsCode:
    """Unpickling this object would run a shell command (the classic pickle attack)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted_model_files(folder) -> tuple:
    """A zip checkpoint (torch.save) and a legacy plain pickle, both running code if unpickled;
    returns (zipped, legacy, marker file the attack would create)."""
    marker = os.path.join(folder, "pwned")
    zipped, legacy = os.path.join(folder, "evil.pt"), os.path.join(folder, "evil_legacy.pt")
    torch.save({"format": "mmsiam-checkpoint", "format_version": 1, "kind": "classifier",
                "state_dict": {}, "metadata": {"x": _RunsCode(marker)}}, zipped)
    with open(legacy, "wb") as f:
        pickle.dump({"state_dict": _RunsCode(marker)}, f, protocol=2)
    return zipped, legacy, marker
