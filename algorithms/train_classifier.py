"""mmsiam:trainclassifier — few-shot land-cover classifier on labelled points or polygons."""

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from .compat import DOUBLE, INTEGER
from .common import (
    ENSEMBLE_HELP,
    MEMORY_MB,
    TRAINING_MEMORY_HELP,
    FeedbackProgress,
    LabelledAlgorithm,
    remember_model,
    require_dependencies,
    run_guarded,
)

PRETRAINED = "PRETRAINED"
PATCH_SIZE = "PATCH_SIZE"
EPOCHS = "EPOCHS"
LEARNING_RATE = "LEARNING_RATE"
BATCH_SIZE = "BATCH_SIZE"
OUTPUT_MODEL = "OUTPUT_MODEL"
OUTPUT_REPORT = "OUTPUT_REPORT"
CLASSIFIER = "CLASSIFIER"
# static strings of core.learn.finetune.CLASSIFIERS (not imported here: it loads torch)
CLASSIFIER_CHOICES = ["ensemble", "network", "linear"]


class TrainClassifierAlgorithm(LabelledAlgorithm):
    def name(self):
        return "trainclassifier"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Train few-shot land-cover classifier"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Trains a land-cover classifier on a few labelled points or polygons. Give the rasters, "
            "the labels with their class field and, best, a model from 'Pretrain multimodal Siamese "
            "network' on the same rasters. Out comes a classifier model for 'Classify land cover' "
            "and an accuracy report.\n\n"
            "Hyperspectral, Multispectral, SAR raster, Extra modalities: one raster per sensor "
            "(hover a raster box for details); the same as for pretraining.\n"
            "Labels: points (each labels the pixel it falls in) or polygons (every pixel inside), in "
            "any CRS.\n"
            "Class field: the field with each label's class, text or a whole number (kept as the "
            "map's pixel value). Left empty, a field named like class, label, type, land use or "
            "species is used. Names and colours come from the layer's categorized style when it has "
            "one.\n"
            "Class name field: a field with a readable name per class, when the class field holds "
            "numbers.\n"
            "Pretrained model: recommended when labels are few; empty starts from random weights.\n"
            "Classifier: ensemble (default) averages the network with a linear model on each "
            "pixel's own band values, which is steadier with few labels; network is the paper's "
            "classifier alone (one network); linear the linear model alone.\n"
            f"{ENSEMBLE_HELP}\n"
            "Train ratio: share of each class's labels used to train; the rest measures the "
            "accuracy (1 trains on all and gives no accuracy). Labels close together make this "
            "measure optimistic.\n"
            "Validation labels: separate labels for the report's accuracy figures, ideally in other places; "
            "then all the labels above train.\n"
            "Epochs: passes over the labels (60). Learning rate: 0 chooses it automatically. Batch "
            "size: labels per step. Patch size: the window around each pixel, when training "
            "without a pretrained model (which brings its own).\n"
            f"{TRAINING_MEMORY_HELP}\n"
            "Classifier model: the file for 'Classify land cover' (also its default in this QGIS "
            "session). Training report: the training curve and, on the labels held out for validation, "
            "overall accuracy, kappa, per-class accuracy and the confusion matrix, and what a random "
            "forest, a shrinkage LDA and a logistic regression score on the same pixels, and for the "
            "ensemble what its spectral path alone scores (CLASSIFIER=linear: what the networks add) "
            "(HTML, with the same numbers as JSON beside it).\n\n"
            "Method: the rasters' features are summed and passed through the pretrained encoder and "
            "one linear layer, fine-tuned on the labels (R. Liu et al., Contrastive Learning for "
            "Urban Land Cover Classification With Multimodal Siamese Network, IEEE GRSL 2024).")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters()
        self.add_label_parameters(with_names=True)
        self.addParameter(QgsProcessingParameterFile(
            PRETRAINED, "Pretrained model (empty: random start)", extension="pt", optional=True))
        self.add_validation_parameters()
        self.addParameter(QgsProcessingParameterEnum(
            CLASSIFIER, "Classifier", options=CLASSIFIER_CHOICES, defaultValue=CLASSIFIER_CHOICES[0],
            usesStaticStrings=True))
        self.add_networks()
        self.add_advanced(QgsProcessingParameterNumber(
            PATCH_SIZE, "Patch size (odd; from scratch only)", INTEGER,
            defaultValue=5, minValue=3, maxValue=63))
        self.addParameter(QgsProcessingParameterNumber(
            EPOCHS, "Epochs", INTEGER, defaultValue=60, minValue=1))
        self.add_advanced(QgsProcessingParameterNumber(
            LEARNING_RATE, "Learning rate (0 = automatic)", DOUBLE,
            defaultValue=0.0, minValue=0.0))
        self.add_advanced(QgsProcessingParameterNumber(
            BATCH_SIZE, "Batch size", INTEGER, defaultValue=64, minValue=2))
        self.add_seed_and_device()
        self.add_training_memory()
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_MODEL, "Classifier model", fileFilter="Model files (*.pt)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, "Training report", fileFilter="HTML files (*.html)", optional=True))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        self.raise_layer_error()
        require_dependencies()
        from ..core.jobs.classifier_run import train_job
        from ..core.learn.finetune import ClassifierConfig
        from ..core.io.inputs import GridOptions

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        config = ClassifierConfig(
            patch_size=self.parameterAsInt(parameters, PATCH_SIZE, context),
            epochs=self.parameterAsInt(parameters, EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, BATCH_SIZE, context),
            learning_rate=self.parameterAsDouble(parameters, LEARNING_RATE, context),
            seed=seed, device=device, **self.ensemble_settings(parameters, context),
            classifier=self.parameterAsEnumString(parameters, CLASSIFIER, context) or CLASSIFIER_CHOICES[0])
        pretrained_path = self.parameterAsFile(parameters, PRETRAINED, context) or None
        model_path = self.parameterAsFileOutput(parameters, OUTPUT_MODEL, context)
        report_path = self.parameterAsFileOutput(parameters, OUTPUT_REPORT, context) or None
        options = GridOptions(**self.grid_options(parameters, context))
        memory_mb = self.parameterAsInt(parameters, MEMORY_MB, context)
        training = self.training_labels(parameters, context, feedback)
        metadata = run_guarded(train_job, modalities, options, config, model_path, report_path,
                               pretrained_path, FeedbackProgress(feedback), memory_mb, **training)
        if metadata is None:
            raise QgsProcessingException("Training produced no model.")
        remember_model(model_path)
        results = {OUTPUT_MODEL: model_path}
        if report_path:
            results[OUTPUT_REPORT] = report_path
        return results
