"""PNG quick-look of a classified raster with a legend: quicklook.py MODEL CLASSIFIED.tif OUT.png"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build", "plugins"))

import rasterio  # noqa: E402

from multimodal_siamese.core.jobs.classifier_run import classes_from_metadata  # noqa: E402
from multimodal_siamese.core.output.report import quicklook_png  # noqa: E402
from multimodal_siamese.models.checkpoint import load_checkpoint  # noqa: E402


def main(model_path, classified_path, png_path):
    metadata = load_checkpoint(model_path, expected_kind="classifier")["metadata"]
    with rasterio.open(classified_path) as src:
        class_map, nodata = src.read(1), int(src.nodata)
    quicklook_png(class_map, nodata, classes_from_metadata(metadata), png_path,
                  title=os.path.basename(classified_path))


if __name__ == "__main__":
    main(*sys.argv[1:4])
