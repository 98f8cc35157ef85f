"""mmsiam:suggestsites — where to label next (active learning with a trained classifier)."""

import os

from qgis.core import (
    QgsMarkerSymbol,
    QgsPalLayerSettings,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterVectorLayer,
    QgsSingleSymbolRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtGui import QColor

from .compat import INTEGER, VECTOR_POINT, VECTOR_POLYGON
from .common import (
    CLASS_FIELD,
    LABELS,
    MEMORY_MB,
    FeedbackProgress,
    MmsiamAlgorithm,
    geometry_features_from_layer,
    label_features_from_layer,
    require_dependencies,
    run_guarded,
)

MODEL = "MODEL"
COUNT = "COUNT"
STRATEGY = "STRATEGY"
MIN_DISTANCE = "MIN_DISTANCE"
MASK = "MASK"
OUTPUT = "OUTPUT"
STRATEGY_CHOICES = ["uncertainty_diversity", "uncertainty", "random"]  # core.jobs.suggest_run.STRATEGIES


def write_sites_style(path: str):
    """The sites' style beside the GeoPackage ('<name>.qml', QGIS's default style for the file):
    bright circles labelled with their rank."""
    layer = QgsVectorLayer(path, "suggested sites", "ogr")
    symbol = QgsMarkerSymbol.createSimple({"name": "circle", "color": "255,0,200", "size": "3",
                                           "outline_color": "255,255,255", "outline_width": "0.4"})
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    settings = QgsPalLayerSettings()
    settings.fieldName = "rank"
    text = QgsTextFormat()
    text.setSize(9)
    text.setColor(QColor(40, 0, 30))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(1.0)
    buffer.setColor(QColor(255, 255, 255))
    text.setBuffer(buffer)
    settings.setFormat(text)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)
    qml = os.path.splitext(path)[0] + ".qml"
    message, ok = layer.saveNamedStyle(qml)
    return qml if ok else None


class _LoadSitesStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies the style file when the dialog loads the output into the project."""

    def __init__(self, qml: str):
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        if isinstance(layer, QgsVectorLayer):
            layer.loadNamedStyle(self.qml)
            layer.triggerRepaint()


class SuggestSitesAlgorithm(MmsiamAlgorithm):
    def name(self):
        return "suggestsites"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Suggest sites to label next"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Tells you which pixels to label next so that your next classifier improves the most. "
            "Give the rasters and the classifier you trained; you get a point layer of sites where "
            "the classifier hesitates, spread over different kinds of places, ranked from the most "
            "useful.\n\n"
            "The loop: train a classifier on your first labels, suggest sites, visit or "
            "photo-interpret them and fill in their class_id, add them to your labels (for example "
            "with Merge vector layers), train again. A few rounds of a few dozen sites usually "
            "beat the same number of labels placed at random.\n\n"
            "Hyperspectral, Multispectral, SAR raster, Extra modalities: one raster per sensor "
            "(hover a raster box for details); the same rasters in the same slots as for the training.\n"
            "Classifier model: the .pt file from 'Train few-shot land-cover classifier'.\n"
            "Labels already used (optional): your current labels; no site is placed closer than the "
            "minimum distance to them. With a class field, features whose class is still empty do "
            "not count.\n"
            "Number of sites: how many points to suggest (50).\n"
            "Strategy: uncertainty_diversity (default) picks uncertain pixels that differ from each "
            "other; uncertainty picks the most uncertain pixels only; random picks valid pixels at "
            "random (a baseline).\n"
            "Minimum distance: pixels between two sites, and between a site and your labels "
            "(0 = twice the model's patch size).\n"
            "Mask (optional): polygons where sites may fall, e.g. the area you can visit.\n"
            "Seed: the same seed gives the same sites. Memory budget: megabytes a block may use.\n"
            "Suggested sites: GeoPackage points at pixel centres with the fields class_id (empty, "
            "for you to fill), suggested_class and suggested_name (the classifier's guess), "
            "confidence (its probability) and rank (1 = label first); it opens styled and "
            "labelled by rank. Once filled it works directly as Labels for training (class field "
            "class_id); sites you leave empty are ignored and counted in the log.\n\n"
            "Method: the whole scene is scored block by block, exactly as 'Classify land cover' "
            "does, and a pixel counts as uncertain when its two most probable classes are close. "
            "Only the most uncertain pixels are kept as candidates. To avoid piling all sites into "
            "one confusing field, sites are then drawn one by one among the candidates, favouring "
            "pixels whose encoder features differ from the sites already chosen (k-means++ "
            "seeding), always keeping the minimum distance. The encoder is the multimodal Siamese "
            "network of R. Liu et al., Contrastive Learning for Urban Land Cover Classification "
            "With Multimodal Siamese Network, IEEE GRSL 2024.")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters(with_grid_options=False)
        self.addParameter(QgsProcessingParameterFile(MODEL, "Classifier model", extension="pt"))
        self.addParameter(QgsProcessingParameterVectorLayer(
            LABELS, "Labels already used", [VECTOR_POINT, VECTOR_POLYGON], optional=True))
        self.addParameter(QgsProcessingParameterField(
            CLASS_FIELD, "Class field of the labels", parentLayerParameterName=LABELS,
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            COUNT, "Number of sites", INTEGER, defaultValue=50, minValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            STRATEGY, "Strategy", options=STRATEGY_CHOICES, defaultValue="uncertainty_diversity",
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            MIN_DISTANCE, "Minimum distance between sites, in pixels (0 = twice the patch size)",
            INTEGER, defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterVectorLayer(
            MASK, "Mask: polygons where sites may fall", [VECTOR_POLYGON], optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            MEMORY_MB, "Memory budget per block (MB)", INTEGER, defaultValue=1024, minValue=64))
        self.add_seed_and_device()
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT, "Suggested sites", VECTOR_POINT))

    def read_layers(self, parameters, context):
        self.labels = self.mask = None
        layer = self.parameterAsVectorLayer(parameters, LABELS, context)
        if layer is not None:
            field = self.parameterAsString(parameters, CLASS_FIELD, context)
            self.labels = (label_features_from_layer(layer, field, "Labels")[0] if field
                           else geometry_features_from_layer(layer, "Labels"))
        layer = self.parameterAsVectorLayer(parameters, MASK, context)
        if layer is not None:
            self.mask = geometry_features_from_layer(layer, "MASK")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        self.raise_layer_error()
        require_dependencies()
        from ..core.jobs.suggest_run import suggest_with_model

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        output = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        progress = FeedbackProgress(feedback)
        run_guarded(suggest_with_model, modalities, self.parameterAsFile(parameters, MODEL, context),
                    output, self.parameterAsInt(parameters, COUNT, context),
                    self.parameterAsEnumString(parameters, STRATEGY, context) or "uncertainty_diversity",
                    self.parameterAsInt(parameters, MIN_DISTANCE, context), self.labels, self.mask,
                    seed, self.parameterAsInt(parameters, MEMORY_MB, context), device, progress)
        qml = write_sites_style(output)
        if qml and context.willLoadLayerOnCompletion(output):
            self.post_processor = _LoadSitesStyle(qml)  # kept alive: QGIS holds a plain pointer
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(self.post_processor)
        return {OUTPUT: output}
