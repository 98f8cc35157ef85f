"""mmsiam:embed — export the encoder's learned per-pixel embedding as a GeoTIFF."""

from qgis.core import (
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from .compat import INTEGER
from .common import MEMORY_MB, FeedbackProgress, MmsiamAlgorithm, require_dependencies, run_guarded

MODEL = "MODEL"
COMPONENTS = "COMPONENTS"
OUTPUT = "OUTPUT"
OUTPUT_REPORT = "OUTPUT_REPORT"


class EmbedAlgorithm(MmsiamAlgorithm):
    def name(self):
        return "embed"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Export learned embedding"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Turns your rasters into a compact stack of learned bands: for every pixel, the "
            "description that the network learned from all your sensors together. Give the "
            "rasters and a pretrained or classifier model; you get a float GeoTIFF with a few "
            "bands (pc1, pc2, …) that you can cluster or classify with any other tool.\n\n"
            "Two uses: unsupervised mapping, by clustering the bands (for example GRASS "
            "i.cluster then i.maxlik, or SAGA K-Means Clustering for Grids, from the Processing "
            "Toolbox); and a classic classifier (random forest, maximum likelihood, …) trained on "
            "these bands, alone or stacked with the original bands.\n\n"
            "Hyperspectral, Multispectral, SAR raster, Extra modalities: one raster per sensor "
            "(hover a raster box for details); the same rasters in the same slots as for the model.\n"
            "Model: a .pt file from 'Pretrain multimodal Siamese network' or from 'Train few-shot "
            "land-cover classifier'. A classifier gives the description its classes were learned "
            "from (all sensors fused; of an ensemble of several networks, the first network's); a "
            "pretrained model gives the average of each sensor's "
            "description.\n"
            "Components: number of bands to keep (16). The full description has 2048 values per "
            "pixel; 0 keeps them all, which makes a very large file.\n"
            "Memory budget: megabytes a block may use. Seed: which pixels the components are "
            "fitted on.\n"
            "Embedding raster: float32 GeoTIFF on the model's grid, bands pc1…, nodata where a "
            "modality has no data; the fitted components and the share of variance each band "
            "explains are stored in its metadata (Layer Properties ▸ Metadata, or gdalinfo).\n"
            "Report (optional): HTML with the explained variance per band, and a JSON beside it.\n\n"
            "Method: the network's encoder runs over the whole scene block by block, exactly as "
            "'Classify land cover' does, so each pixel gets the same description as its own patch "
            "alone. A principal component analysis, fitted on a random sample of valid pixels, "
            "keeps the directions in which the description varies most; pc1 varies most. The "
            "encoder is the multimodal Siamese network of R. Liu et al., Contrastive Learning for "
            "Urban Land Cover Classification With Multimodal Siamese Network, IEEE GRSL 2024.")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters(with_grid_options=False)
        self.addParameter(QgsProcessingParameterFile(MODEL, "Pretrained or classifier model", extension="pt"))
        self.addParameter(QgsProcessingParameterNumber(
            COMPONENTS, "Components (bands) to keep (0 = all 2048: very large)", INTEGER,
            defaultValue=16, minValue=0))
        self.add_advanced(QgsProcessingParameterNumber(
            MEMORY_MB, "Memory budget per block (MB)", INTEGER, defaultValue=1024, minValue=64))
        self.add_seed_and_device()
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Embedding raster"))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, "Report", fileFilter="HTML files (*.html)", optional=True,
            createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        require_dependencies()
        from ..core.jobs.embed_run import embed_with_model

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        output = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        report = self.parameterAsFileOutput(parameters, OUTPUT_REPORT, context) or None
        run_guarded(embed_with_model, modalities, self.parameterAsFile(parameters, MODEL, context), output,
                    self.parameterAsInt(parameters, COMPONENTS, context),
                    self.parameterAsInt(parameters, MEMORY_MB, context), device, seed,
                    FeedbackProgress(feedback), report)
        results = {OUTPUT: output}
        if report:
            results[OUTPUT_REPORT] = report
        return results
