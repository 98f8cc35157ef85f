"""What every algorithm shares: modality slots, label and seed/device parameters, feedback and errors.

The algorithms are thin adapters: they turn parameters into core calls. Anything heavy (torch,
scikit-learn) is imported inside ``processAlgorithm`` so that QGIS starts without it.
"""

# Help texts: the style of every algorithm of this provider (shortHelpString and labels).
# 1. Two or three plain sentences: what it does, what to give it, what comes out.
# 2. The parameters in plain words, one line each, named as the dialog names them; say what a
#    setting changes for the analyst, not how it is computed.
# 3. "Method:" one short paragraph with the paper reference (Liu et al., IEEE GRSL 2024).
# No formulas, equation numbers or benchmark figures and file paths in dialogs: those belong in
# the README. The raster slots are explained in one place, MODALITY_HELP, shown as the slots'
# tooltip (setHelp); a dialog's help only says "hover a raster box for details".
# Labels: sentence case, acronyms as written (SAR, LiDAR), no "(optional)": QGIS adds
# "[optional]" itself.

from __future__ import annotations

import os

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsFeatureRequest,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
)
from qgis.PyQt.QtGui import QIcon

from .compat import DOUBLE, FLAG_ADVANCED, INTEGER, RASTER, VECTOR_POINT, VECTOR_POLYGON, add_flag
from ..core.runtime import triton_guard
from ..core.runtime.dependencies import missing_packages_message
from ..core.errors import Cancelled, InputError
from ..core.progress import Progress

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ICON_DIR = os.path.join(PLUGIN_DIR, "resources", "icons")
ICON_PATH = os.path.join(ICON_DIR, "mmsiam.svg")

MODALITY_SLOTS = ("HYPERSPECTRAL", "MULTISPECTRAL", "SAR")
LABELS = "LABELS"
CLASS_FIELD = "CLASS_FIELD"
EXTRA_MODALITIES = "EXTRA_MODALITIES"
REFERENCE_GRID = "REFERENCE_GRID"
RESOLUTION = "RESOLUTION"
RESAMPLING = "RESAMPLING"
SEED = "SEED"
DEVICE = "DEVICE"
MEMORY_MB = "MEMORY_MB"
NETWORKS = "NETWORKS"
DEFAULT_NETWORKS = 3  # core.learn.finetune.DEFAULT_NETWORKS (not imported here: it loads torch)
TEST_TIME_FLIPS = "TEST_TIME_FLIPS"
SPECTRAL_CONTEXT = "SPECTRAL_CONTEXT"
SPECTRAL_CONTEXT_CHOICES = ["auto", "off", "on"]  # core.learn.spectral.BAND_CONTEXT_CHOICES
ENSEMBLE_HELP = (
    "Networks: the ensemble averages this many trainings of the network from different seeds "
    f"({DEFAULT_NETWORKS}); with few labels one training can be off by several points, the average "
    "much less. Each one adds to training and classification time; 1 is fastest.\n"
    "Test-time flips and rotations: the networks of the ensemble also look at every patch "
    "mirrored and turned by quarter turns, and all their answers are averaged (on by default). "
    "The networks share the 8 views out between them (3 each for 3 networks; a single network "
    "looks at all 8). Slightly more accurate and steadier; with the default 3 networks, "
    "classification takes about twice as long. Turn it off when time matters more.\n"
    "Patch mean in the LDA: besides each pixel's own bands, the ensemble's LDA can read the mean "
    "spectrum of the patch around it, which helps where fields, stands or roofs span several "
    "pixels and blurs where objects are as small as a pixel. 'auto' (the default) decides from "
    "your labels: it scores the LDA with and without the mean on spatially separated blocks of "
    "them, and the log says which it chose and why; 'on' and 'off' force it.")
TRAINING_MEMORY_HELP = (
    "Memory budget: a scene whose bands need more than this is never read whole; pretraining "
    "then draws a pool of random tiles each epoch and the classifier reads only the labels' "
    "patches (2048 MB by default).")

REFERENCE_CHOICES = ["first"] + [s.lower() for s in MODALITY_SLOTS]
RESAMPLING_CHOICES = ["bilinear", "nearest", "cubic", "average"]
DEVICE_CHOICES = ["auto", "cpu", "cuda"]

MODALITY_HELP = (
    "One raster per sensor, of the same area. The slot names follow the paper (hyperspectral, "
    "multispectral, SAR) but any raster works in any slot: an aerial photo, LiDAR heights, a DEM, "
    "another spectrometer. Give at least one; use Extra modalities for more than three. The "
    "rasters may differ in bands, data type, CRS, resolution and extent: they are resampled onto "
    "one grid over their common extent. A pixel is used where every raster has data. Give the "
    "same rasters in the same slots when you pretrain, train and classify. Give LiDAR or another "
    "surface model as height above ground (surface minus bare earth) rather than elevation above "
    "sea level: on a slope, elevation tells where a pixel lies more than what covers it, and a "
    "model trained on a few labelled areas can learn the place instead of the class.")
SLOT_LABELS = {"HYPERSPECTRAL": "Hyperspectral raster", "MULTISPECTRAL": "Multispectral raster",
               "SAR": "SAR raster"}
CLASS_FIELD_HELP = (
    "The field holding each label's class: text (e.g. 'forest') or a whole number. Left empty, a "
    "field named like class, label, type, land use or species is used (the log says which).")

# The classifier trained last in this QGIS session (by trainclassifier or mapfromlabels): the
# default model of mmsiam:classify.
_SESSION = {"last_model": None}


def remember_model(path: str):
    _SESSION["last_model"] = path


def last_model():
    return _SESSION["last_model"]


CLASS_NAME_FIELD = "CLASS_NAME_FIELD"
TRAIN_RATIO = "TRAIN_RATIO"
VALIDATION = "VALIDATION"
VALIDATION_FIELD = "VALIDATION_FIELD"


class MmsiamAlgorithm(QgsProcessingAlgorithm):
    """Base class: naming, icon, help, and the shared parameter groups."""

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return type(self)()

    def group(self):
        return "Land cover"

    def groupId(self):  # noqa: N802 (QGIS API name)
        return "landcover"

    def icon(self):
        return QIcon(self.svgIconPath())

    def svgIconPath(self):  # noqa: N802 (QGIS API name)
        # One icon per algorithm, named after it (resources/icons/<name>.svg); else the provider's.
        path = os.path.join(ICON_DIR, f"{self.name()}.svg")
        return path if os.path.exists(path) else ICON_PATH

    # -- parameters ------------------------------------------------------------------------
    def add_modality_parameters(self, with_grid_options: bool = True):
        for slot in MODALITY_SLOTS:
            raster = QgsProcessingParameterRasterLayer(slot, SLOT_LABELS[slot], optional=True)
            raster.setHelp(MODALITY_HELP)
            self.addParameter(raster)
        extras = QgsProcessingParameterMultipleLayers(
            EXTRA_MODALITIES, "Extra modalities (one raster per sensor)", RASTER, optional=True)
        extras.setHelp(MODALITY_HELP)
        self.addParameter(extras)
        if not with_grid_options:
            return
        self.add_advanced(QgsProcessingParameterEnum(
            REFERENCE_GRID, "Reference grid (pixels of this modality; extent = common extent)",
            options=REFERENCE_CHOICES, defaultValue="first", usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterNumber(
            RESOLUTION, "Pixel size of the reference grid (0 = the reference modality's own)",
            DOUBLE, defaultValue=0.0, minValue=0.0))
        self.add_advanced(QgsProcessingParameterEnum(
            RESAMPLING, "Resampling of the other modalities", options=RESAMPLING_CHOICES,
            defaultValue="bilinear", usesStaticStrings=True))

    def add_label_parameters(self, with_names: bool = False, description: str = "Labels (points or polygons)",
                             optional: bool = False):
        self.addParameter(QgsProcessingParameterVectorLayer(
            LABELS, description, [VECTOR_POINT, VECTOR_POLYGON], optional=optional))
        # Optional, so that the dialog does not preselect the first field (often 'fid'): left
        # empty, read_labels picks a field named like a class (also for qgis_process).
        field = QgsProcessingParameterField(
            CLASS_FIELD, "Class field (empty: detect)", parentLayerParameterName=LABELS, optional=True)
        field.setHelp(CLASS_FIELD_HELP)
        self.addParameter(field)
        if with_names:
            self.addParameter(QgsProcessingParameterField(
                CLASS_NAME_FIELD, "Class name field", parentLayerParameterName=LABELS, optional=True))

    def read_labels(self, parameters, context, name_field: str = ""):
        """The label layer as (features, names, colours), with the class field given or detected."""
        layer = self.parameterAsVectorLayer(parameters, LABELS, context)
        field = self.parameterAsString(parameters, CLASS_FIELD, context)
        self.class_field_note = ""
        if not field and layer is not None:
            field = detect_class_field(layer)
            self.class_field_note = (f"Class field: '{field}' of '{layer.name()}' (detected; set Class "
                                     "field to use another).")
        return label_features_from_layer(layer, field, "Labels", name_field)

    def report_class_field(self, feedback):
        if getattr(self, "class_field_note", "") and feedback is not None:
            feedback.pushInfo(self.class_field_note)

    # -- label layers are read in the main thread ------------------------------------------
    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        # Runs in the main thread (processAlgorithm may run in a background task): project layers
        # are read here into plain Python data. A refusal is kept and raised by processAlgorithm:
        # QGIS turns an exception raised here into a bare 'There were errors executing the
        # algorithm.' for processing.run callers.
        self.layer_error = None
        try:
            self.read_layers(parameters, context)
        except QgsProcessingException as exc:
            self.layer_error = str(exc)
        return True

    def read_layers(self, parameters, context):
        """Read vector layers into plain data (main thread); algorithms with layers override it."""

    def raise_layer_error(self):
        if self.layer_error:
            raise QgsProcessingException(self.layer_error)

    def add_seed_and_device(self):
        self.add_advanced(QgsProcessingParameterNumber(
            SEED, "Random seed (same seed, same result on CPU)", INTEGER,
            defaultValue=42, minValue=0))
        self.add_advanced(QgsProcessingParameterEnum(
            DEVICE, "Device", options=DEVICE_CHOICES, defaultValue="auto", usesStaticStrings=True))

    def add_networks(self):
        """The ensemble's settings (NETWORKS, TEST_TIME_FLIPS, SPECTRAL_CONTEXT), read back by
        :meth:`ensemble_settings`."""
        self.add_advanced(QgsProcessingParameterNumber(
            NETWORKS, "Networks in the ensemble (trained from different seeds)", INTEGER,
            defaultValue=DEFAULT_NETWORKS, minValue=1, maxValue=10))
        self.add_advanced(QgsProcessingParameterBoolean(
            TEST_TIME_FLIPS, "Test-time flips and rotations (8 views, shared by the networks)",
            defaultValue=True))
        self.add_advanced(QgsProcessingParameterEnum(
            SPECTRAL_CONTEXT, "Patch mean in the LDA", options=SPECTRAL_CONTEXT_CHOICES,
            defaultValue="auto", usesStaticStrings=True))

    def ensemble_settings(self, parameters, context) -> dict:
        return {"networks": self.parameterAsInt(parameters, NETWORKS, context),
                "test_time_flips": self.parameterAsBoolean(parameters, TEST_TIME_FLIPS, context),
                "band_context": self.parameterAsEnumString(parameters, SPECTRAL_CONTEXT, context) or "auto"}

    def add_training_memory(self):
        self.add_advanced(QgsProcessingParameterNumber(
            MEMORY_MB, "Memory budget for training data (MB)", INTEGER,
            defaultValue=2048, minValue=64))

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS API name)
        """QGIS's own check only says 'Incorrect parameter value for EPOCHS' (or for LABELS): say
        what the allowed range is and what was given, or which layer could not be opened."""
        for definition in self.parameterDefinitions():
            if not isinstance(definition, (QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer,
                                           QgsProcessingParameterVectorLayer)):
                continue
            value = parameters.get(definition.name()) if parameters else None
            if value is None or value == "" or definition.checkValueIsAcceptable(value, context):
                continue
            if isinstance(definition, QgsProcessingParameterNumber):
                return False, number_range_message(definition, value)
            return False, layer_message(definition, value)
        # A parameter left out takes its default, as parameterAs...() reads it; QGIS's own check
        # refuses a missing file even when it has one (classify's MODEL: the session's last model).
        filled = dict(parameters or {})
        for definition in self.parameterDefinitions():
            if filled.get(definition.name()) is None and definition.defaultValue() is not None:
                filled[definition.name()] = definition.defaultValue()
        return super().checkParameterValues(filled, context)

    def add_advanced(self, parameter):
        add_flag(parameter, FLAG_ADVANCED)
        self.addParameter(parameter)

    # -- reading parameters ----------------------------------------------------------------
    def modality_inputs(self, parameters, context):
        from ..core.io.raster import ModalityInput

        inputs = []
        for slot in MODALITY_SLOTS:
            layer = self.parameterAsRasterLayer(parameters, slot, context)
            if layer is not None:
                inputs.append(ModalityInput(slot, raster_source(layer, slot)))
        extras = self.parameterAsLayerList(parameters, EXTRA_MODALITIES, context) or []
        for i, layer in enumerate(extras, start=1):
            inputs.append(ModalityInput(f"EXTRA_{i}", raster_source(layer, f"extra modality {i}")))
        if not inputs:
            raise QgsProcessingException(
                "No raster was given. Set at least one of Hyperspectral, Multispectral, SAR or "
                "Extra modalities.")
        return inputs

    def grid_options(self, parameters, context) -> dict:
        reference = self.parameterAsEnumString(parameters, REFERENCE_GRID, context) or "first"
        resolution = self.parameterAsDouble(parameters, RESOLUTION, context)
        return {"reference_slot": None if reference == "first" else reference.upper(),
                "resolution": resolution or None,
                "resampling": self.parameterAsEnumString(parameters, RESAMPLING, context) or "bilinear"}

    def seed_and_device(self, parameters, context):
        seed = self.parameterAsInt(parameters, SEED, context)
        device = self.parameterAsEnumString(parameters, DEVICE, context) or "auto"
        return seed, device


class LabelledAlgorithm(MmsiamAlgorithm):
    """An algorithm that trains a classifier on labels: labels, class (name) field, train ratio
    and validation labels, read the same way by trainclassifier and mapfromlabels."""

    def add_validation_parameters(self):
        self.addParameter(QgsProcessingParameterNumber(
            TRAIN_RATIO, "Train ratio (the rest measures the accuracy)", DOUBLE,
            defaultValue=0.7, minValue=0.01, maxValue=1.0))
        self.addParameter(QgsProcessingParameterVectorLayer(
            VALIDATION, "Validation labels", [VECTOR_POINT, VECTOR_POLYGON], optional=True))
        self.addParameter(QgsProcessingParameterField(
            VALIDATION_FIELD, "Validation class field (empty: the class field's name)",
            parentLayerParameterName=VALIDATION, optional=True))

    def read_layers(self, parameters, context):
        self.labels = self.read_labels(parameters, context,
                                       self.parameterAsString(parameters, CLASS_NAME_FIELD, context))
        self.validation = None
        validation_layer = self.parameterAsVectorLayer(parameters, VALIDATION, context)
        if validation_layer is not None:
            field = (self.parameterAsString(parameters, VALIDATION_FIELD, context)
                     or self.labels[0].field_name)
            self.validation, _, _ = label_features_from_layer(validation_layer, field, "Validation")

    def training_labels(self, parameters, context, feedback) -> dict:
        """Keyword arguments of core.jobs.classifier_run.train_job for the labels read in the main thread."""
        self.report_class_field(feedback)
        labels, names, colors = self.labels
        return {"labels": labels, "names": names, "colors": colors, "validation": self.validation,
                "train_ratio": self.parameterAsDouble(parameters, TRAIN_RATIO, context)}


def layer_message(definition, value) -> str:
    """'Labels (LABELS): '/x.gpkg' cannot be opened as a point or polygon layer. ...'"""
    kind = ("a raster" if isinstance(definition, QgsProcessingParameterRasterLayer)
            else "a point or polygon layer")
    return (f"{definition.description()} ({definition.name()}): '{value}' cannot be opened as {kind}. "
            "Check that the file exists and is readable (or choose a loaded layer), and run again.")


def number_range_message(definition, value) -> str:
    """'Epochs (EPOCHS) must be a whole number of at least 1; got 0. ...' for a rejected number."""
    integer = definition.dataType() == INTEGER
    kind = "a whole number" if integer else "a number"

    def text(bound):
        return str(int(bound)) if integer else f"{bound:g}"

    low, high = definition.minimum(), definition.maximum()
    if low > -1e300 and high < 1e300:
        limits = f" from {text(low)} to {text(high)}"
    elif low > -1e300:
        limits = f" of at least {text(low)}"
    elif high < 1e300:
        limits = f" of at most {text(high)}"
    else:
        limits = ""
    return (f"{definition.description()} ({definition.name()}) must be {kind}{limits}; got {value}. "
            "Change it and run again.")


def detect_class_field(layer) -> str:
    """The class field of a label layer left unset: that of its categorized style, else a field
    named like a class (core.io.labels.guess_class_field); refused with the fields when none fits."""
    from ..core.io.labels import FieldSummary, guess_class_field

    styled = renderer_field(layer)
    if styled:
        return styled
    summaries = []
    for index, field in enumerate(layer.fields()):
        values = [_plain(v) for v in layer.uniqueValues(index, 300)]
        values = [v for v in values if v is not None]
        # Whole numbers judged by the values (field type enums differ between Qt 5 and Qt 6).
        integer = field.isNumeric() and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        summaries.append(FieldSummary(field.name(), field.isNumeric(), integer, len(values),
                                      layer.featureCount()))
    guess = guess_class_field(summaries)
    if guess is None:
        raise QgsProcessingException(
            f"No field of the label layer '{layer.name()}' looks like a class field (fields: "
            f"{', '.join(layer.fields().names())}). Choose the Class field.")
    return guess


def raster_source(layer, what: str) -> str:
    if layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"The {what} layer '{layer.name()}' is not a file-based raster (provider "
            f"'{layer.providerType()}'). Save it as a GeoTIFF first (Export ▸ Save As…).")
    return layer.source()


def label_features_from_layer(layer, field_name: str, what: str = "LABELS", name_field: str = ""):
    """A QGIS vector layer (any provider, any CRS) → core LabelFeatures, class names and colours.

    Names come from ``name_field`` when given, else from a categorized renderer's labels."""
    from ..core.io.labels import LabelFeatures

    if layer is None:
        raise QgsProcessingException(f"The {what} layer is missing or could not be loaded.")
    if layer.fields().indexOf(field_name) < 0:
        names = ", ".join(layer.fields().names())
        raise QgsProcessingException(
            f"The {what} layer '{layer.name()}' has no field '{field_name}'. Its fields are: {names}; "
            "choose one of them as the class field.")
    if name_field and layer.fields().indexOf(name_field) < 0:
        raise QgsProcessingException(
            f"The {what} layer '{layer.name()}' has no field '{name_field}' for class names.")
    wkbs, values, field_names = [], [], {}
    attributes = [field_name] + ([name_field] if name_field else [])
    request = QgsFeatureRequest().setSubsetOfAttributes(attributes, layer.fields())
    for feature in layer.getFeatures(request):
        geometry = feature.geometry()
        wkbs.append(None if geometry is None or geometry.isEmpty() else bytes(geometry.asWkb()))
        value = _plain(feature[field_name])
        values.append(value)
        if name_field and value is not None and _plain(feature[name_field]) is not None:
            field_names.setdefault(str(value), str(_plain(feature[name_field])))
    crs = layer.crs() if layer.crs().isValid() else QgsCoordinateReferenceSystem()
    names, colors = renderer_classes(layer, field_name)
    names.update(field_names)
    features = LabelFeatures(wkbs, values, crs.toWkt() if crs.isValid() else "", layer.name(), field_name)
    return features, names, colors


def geometry_features_from_layer(layer, what: str):
    """A QGIS vector layer → core LabelFeatures of its geometries only (every value 1), e.g. a
    MASK, or labels given without a class field."""
    from ..core.io.labels import LabelFeatures

    if layer is None:
        raise QgsProcessingException(f"The {what} layer is missing or could not be loaded.")
    request = QgsFeatureRequest().setNoAttributes()
    wkbs = [None if f.geometry() is None or f.geometry().isEmpty() else bytes(f.geometry().asWkb())
            for f in layer.getFeatures(request)]
    crs = layer.crs()
    return LabelFeatures(wkbs, [1] * len(wkbs), crs.toWkt() if crs.isValid() else "", layer.name(), "")


def _plain(value):
    # QVariant NULL (QGIS 3) arrives as a QVariant whose isNull() is True.
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    return value


def _categorized_renderer(layer, field_name: str | None = None):
    """The layer's categorized renderer (on ``field_name`` when given): its own, else its default
    style's (Processing opens files without their saved style); None when it has none."""
    renderer = layer.renderer()
    if not _categorized_on(renderer, field_name):
        styled = layer.clone()
        styled.loadDefaultStyle()
        renderer = styled.renderer().clone() if styled.renderer() is not None else None
    return renderer if _categorized_on(renderer, field_name) else None


def renderer_field(layer) -> str | None:
    renderer = _categorized_renderer(layer)
    field = renderer.classAttribute() if renderer is not None else ""
    return field if field in layer.fields().names() else None


def renderer_classes(layer, field_name: str):
    """Class names and colours from a categorized renderer on ``field_name``, if any."""
    renderer = _categorized_renderer(layer, field_name)
    names, colors = {}, {}
    if renderer is not None:
        for category in renderer.categories():
            key = str(category.value())
            if category.label():
                names[key] = category.label()
            if category.symbol() is not None:
                colors[key] = category.symbol().color().name()
    return names, colors


def _categorized_on(renderer, field_name: str | None) -> bool:
    return isinstance(renderer, QgsCategorizedSymbolRenderer) and (
        field_name is None or renderer.classAttribute() == field_name)


class FeedbackProgress(Progress):
    """core.Progress over a QgsProcessingFeedback."""

    def __init__(self, feedback):
        super().__init__()
        self.feedback = feedback

    def set_percent(self, percent: float):
        super().set_percent(percent)
        if self.feedback is not None:
            self.feedback.setProgress(percent)

    def info(self, text: str):
        super().info(text)
        if self.feedback is not None:
            self.feedback.pushInfo(text)  # the dialog's log and qgis_process both show it

    def warn(self, text: str):
        super().warn(text)
        if self.feedback is not None:
            self.feedback.pushWarning(text)  # a caveat, not a failure: QGIS shows it as a warning

    def is_cancelled(self) -> bool:
        return self.cancel_requested or (self.feedback is not None and self.feedback.isCanceled())


def require_dependencies():
    """Before torch is imported: refuse triton (see core/runtime/triton_guard.py), then check that torch
    and scikit-learn import. That check is the first import of torch in QGIS, and it imports
    torch so that torch multiplies with its own BLAS, not the one GDAL brought into the QGIS
    process (core/runtime/torch_loading.py)."""
    triton_guard.install()
    message = missing_packages_message()
    if message:
        raise QgsProcessingException(message)


def run_guarded(function, *args, **kwargs):
    """Run core work; analyst-level errors and cancels become QgsProcessingException."""
    from ..models.checkpoint import CheckpointError

    try:
        return function(*args, **kwargs)
    except (InputError, CheckpointError) as exc:
        raise QgsProcessingException(str(exc)) from exc
    except Cancelled as exc:
        raise QgsProcessingException("Cancelled by the user; no output file was written.") from exc
    except MemoryError as exc:
        raise QgsProcessingException(
            "Not enough memory for this run. Use fewer or smaller rasters, a coarser RESOLUTION, or a "
            "smaller BATCH_SIZE.") from exc
    except OSError as exc:  # disk full, a folder that turned read-only, a vanished file ...
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        raise QgsProcessingException(
            f"A file{where} could not be read or written ({exc.strerror or exc}). Check the path, "
            "the free disk space and your permissions, then run again.") from exc
