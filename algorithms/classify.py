"""mmsiam:classify — apply a trained classifier to the whole reference grid."""

from qgis.core import (
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from .compat import FLAG_HIDDEN, INTEGER, add_flag
from .common import MEMORY_MB, SEED, MmsiamAlgorithm, FeedbackProgress, MODALITY_HELP, require_dependencies, run_guarded

MODEL = "MODEL"
OUTPUT = "OUTPUT"
OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"


class ClassifyAlgorithm(MmsiamAlgorithm):
    def name(self):
        return "classify"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Classify land cover"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Classifies every pixel where all modalities have data with a model from 'Train few-shot "
            "land-cover classifier', block by block (memory stays bounded whatever the raster size).\n\n"
            f"Modalities: {MODALITY_HELP} Give the same sensors in the same slots as for training; "
            "the model's band selection and normalisation are reused, and the reference grid is built "
            "with the model's grid options.\n\n"
            "Classifier model: the .pt file written by the training algorithm (opened safely: weights "
            "only, no code runs).\n"
            "Memory budget: megabytes a block may use; larger blocks are faster.\n"
            "Device: auto uses a CUDA GPU when torch sees one.\n"
            "Classified raster: UInt8 GeoTIFF of class codes (the label values when integers, else "
            "1..K), nodata 0 (255 when a class uses 0), tiled and compressed, with a colour table and "
            "a QGIS style (.qml beside it) holding class names and colours.\n"
            "Confidence raster: optional float32 GeoTIFF of the highest class probability (−1 = "
            "nodata).")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters(with_grid_options=False)
        self.addParameter(QgsProcessingParameterFile(MODEL, "Classifier model", extension="pt"))
        self.add_advanced(QgsProcessingParameterNumber(
            MEMORY_MB, "Memory budget per block (MB)", INTEGER,
            defaultValue=1024, minValue=64))
        self.add_seed_and_device()
        # Prediction draws no random numbers: SEED is still accepted (scripts pass it) but hidden.
        seed = self.parameterDefinition(SEED)
        add_flag(seed, FLAG_HIDDEN)
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Classified raster"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            OUTPUT_CONFIDENCE, "Confidence raster", optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        require_dependencies()
        from ..core.classify_run import classify_with_model

        modalities = self.modality_inputs(parameters, context)
        _, device = self.seed_and_device(parameters, context)
        model_path = self.parameterAsFile(parameters, MODEL, context)
        output = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        confidence = self.parameterAsOutputLayer(parameters, OUTPUT_CONFIDENCE, context) or None
        memory_mb = self.parameterAsInt(parameters, MEMORY_MB, context)
        progress = FeedbackProgress(feedback)
        run_guarded(classify_with_model, modalities, model_path, output, confidence, memory_mb,
                    device, progress)
        results = {OUTPUT: output}
        if confidence:
            results[OUTPUT_CONFIDENCE] = confidence
        return results
