"""mmsiam:classify — apply a trained classifier to the whole reference grid."""

from qgis.core import (
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from .compat import FLAG_HIDDEN, INTEGER, add_flag
from .common import (
    MEMORY_MB,
    SEED,
    FeedbackProgress,
    MmsiamAlgorithm,
    last_model,
    require_dependencies,
    run_guarded,
)

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
            "Classifies every pixel of your rasters with a model from 'Train few-shot land-cover "
            "classifier'. Give the same rasters in the same slots as for training, and the model "
            "(by default the last one trained in this QGIS session). Out comes a land-cover map, "
            "loaded with its class names and colours, and, if you want it, a confidence map.\n\n"
            "Hyperspectral, Multispectral, SAR raster, Extra modalities: one raster per sensor "
            "(hover a raster box for details); the model resamples them as in training.\n"
            "Classifier model: the .pt file of the training (opening it runs no code). A model "
            "trained with test-time flips and rotations (the default) looks at each patch 8 ways, "
            "shared out between its networks, which makes classification about twice as slow with the "
            "default three networks; train with them off for speed.\n"
            "Memory budget per block: the scene is classified in blocks of this size; larger blocks "
            "are faster.\n"
            "Device: auto uses a CUDA GPU when there is one.\n"
            "Classified raster: a compressed GeoTIFF of class codes (the label values when they are "
            "whole numbers, else 1, 2, … in alphabetical order; 0 where a raster has no data), with "
            "a colour table and a QGIS style (.qml beside it) holding the class names.\n"
            "Confidence raster: the probability of the chosen class, from 0 (unsure) to 1 (sure); "
            "loaded below the map.\n\n"
            "Method: the classifier of the multimodal Siamese network (R. Liu et al., Contrastive "
            "Learning for Urban Land Cover Classification With Multimodal Siamese Network, IEEE "
            "GRSL 2024), applied block by block so that memory stays bounded whatever the size of "
            "the scene.")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters(with_grid_options=False)
        # The last classifier trained in this QGIS session is the default model.
        self.addParameter(QgsProcessingParameterFile(
            MODEL, "Classifier model", extension="pt", defaultValue=last_model()))
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
        from ..core.jobs.classify_run import classify_with_model

        modalities = self.modality_inputs(parameters, context)
        _, device = self.seed_and_device(parameters, context)
        model_path = self.parameterAsFile(parameters, MODEL, context)
        output = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        confidence = self.parameterAsOutputLayer(parameters, OUTPUT_CONFIDENCE, context) or None
        memory_mb = self.parameterAsInt(parameters, MEMORY_MB, context)
        progress = FeedbackProgress(feedback)
        run_guarded(classify_with_model, modalities, model_path, output, confidence, memory_mb,
                    device, progress)
        self.outputs_to_style = (output, confidence)
        results = {OUTPUT: output}
        if confidence:
            results[OUTPUT_CONFIDENCE] = confidence
        return results

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 (QGIS API name)
        # Main thread, before Processing loads the outputs: have them styled when loaded.
        from .styling import style_on_load

        style_on_load(context, *getattr(self, "outputs_to_style", ()))
        return {}
