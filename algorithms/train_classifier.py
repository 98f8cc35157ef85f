"""mmsiam:trainclassifier — few-shot early-fusion classifier (paper eq. (3))."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorLayer,
)

from .common import (
    CLASS_FIELD,
    LABELS,
    MEMORY_MB,
    MmsiamAlgorithm,
    FeedbackProgress,
    MODALITY_HELP,
    TRAINING_MEMORY_HELP,
    label_features_from_layer,
    require_dependencies,
    run_guarded,
)

CLASS_NAME_FIELD = "CLASS_NAME_FIELD"
PRETRAINED = "PRETRAINED"
TRAIN_RATIO = "TRAIN_RATIO"
VALIDATION = "VALIDATION"
VALIDATION_FIELD = "VALIDATION_FIELD"
PATCH_SIZE = "PATCH_SIZE"
EPOCHS = "EPOCHS"
LEARNING_RATE = "LEARNING_RATE"
BATCH_SIZE = "BATCH_SIZE"
OUTPUT_MODEL = "OUTPUT_MODEL"
OUTPUT_REPORT = "OUTPUT_REPORT"
CLASSIFIER = "CLASSIFIER"
# static strings of core.finetune.CLASSIFIERS (not imported here: it loads torch)
CLASSIFIER_CHOICES = ["ensemble", "network", "linear"]


class TrainClassifierAlgorithm(MmsiamAlgorithm):
    def name(self):
        return "trainclassifier"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Train few-shot land-cover classifier"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Trains the paper's early-fusion classifier g = linear(f(z_H + z_M + z_S)) on a few "
            "labelled points or polygons: each modality's projection is summed, passed through the "
            "encoder f and one linear layer. Start f from a pretrained model (recommended when labels "
            "are few) or from random weights.\n\n"
            f"Modalities: {MODALITY_HELP} With a pretrained model, give the same rasters in the same "
            "slots as for pretraining.\n\n"
            "Labels: point layer (each point labels the pixel it falls in) or polygon layer (every "
            "pixel whose centre is inside), in any CRS.\n"
            "Class field: integer (kept as the raster code, 1–254) or text (codes 1..K in alphabetical "
            "order). Names and colours come from the layer's categorized style when it has one.\n"
            "Class name field: optional text field with a readable name per class (e.g. class_name "
            "next to class_id); it overrides the style's labels.\n"
            "Pretrained model: output of 'Pretrain multimodal Siamese network'; empty = random start.\n"
            "Classifier: 'ensemble' (default) averages the network with a linear model (shrinkage LDA) "
            "on each pixel's own bands, weighted by a cross-validation on your labels; 'network' is the "
            "paper's eq. (3) alone; 'linear' the linear model alone.\n"
            "Train ratio: fraction of each class's samples used for training; the rest validates "
            "(1 = train on all). Dense neighbouring labels make a random split optimistic.\n"
            "Validation layer / field: optional separate labels for the accuracy report (then all "
            "samples of Labels train).\n"
            "Patch size: used when training from scratch (default 5, see the pretraining help); a "
            "pretrained model brings its own.\n"
            "Epochs: passes over the training samples (60 as in the paper).\n"
            "Learning rate: 0 = automatic (AdamW; 1e-4 when fine-tuning a pretrained encoder, 5e-4 "
            "from scratch, from our evaluation on Potsdam; the paper's 0.009 / 0.02 were far too "
            "high with AdamW).\n"
            "Batch size: samples per step (64: few labels need several steps per epoch).\n"
            "Seed / Device: reproducibility on CPU; auto uses a CUDA GPU when available.\n"
            f"{TRAINING_MEMORY_HELP}\n"
            "Classifier model: output file for 'Classify land cover'. Report: HTML with accuracy "
            "(OA, AA, kappa, mIoU, per-class IoU, producer's/user's accuracy, F1, confusion matrix), "
            "samples used and dropped, parameters; a JSON with the same numbers is written beside it.")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters()
        self.add_label_parameters()
        self.addParameter(QgsProcessingParameterField(
            CLASS_NAME_FIELD, "Class name field (optional)", parentLayerParameterName=LABELS,
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            PRETRAINED, "Pretrained model (empty = random initialisation)", extension="pt", optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            CLASSIFIER, "Classifier", options=CLASSIFIER_CHOICES, defaultValue=CLASSIFIER_CHOICES[0],
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            TRAIN_RATIO, "Train ratio (rest validates)", QgsProcessingParameterNumber.Double,
            defaultValue=1.0, minValue=0.01, maxValue=1.0))
        self.addParameter(QgsProcessingParameterVectorLayer(
            VALIDATION, "Validation labels (optional)",
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(
            VALIDATION_FIELD, "Validation class field (default: same name as Class field)",
            parentLayerParameterName=VALIDATION, optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            PATCH_SIZE, "Patch size (odd; from scratch only)", QgsProcessingParameterNumber.Integer,
            defaultValue=5, minValue=3, maxValue=63))
        self.addParameter(QgsProcessingParameterNumber(
            EPOCHS, "Epochs", QgsProcessingParameterNumber.Integer, defaultValue=60, minValue=1))
        self.add_advanced(QgsProcessingParameterNumber(
            LEARNING_RATE, "Learning rate (0 = automatic)", QgsProcessingParameterNumber.Double,
            defaultValue=0.0, minValue=0.0))
        self.add_advanced(QgsProcessingParameterNumber(
            BATCH_SIZE, "Batch size", QgsProcessingParameterNumber.Integer, defaultValue=64, minValue=2))
        self.add_seed_and_device()
        self.add_training_memory()
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_MODEL, "Classifier model", fileFilter="Model files (*.pt)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, "Accuracy report", fileFilter="HTML files (*.html)", optional=True,
            createByDefault=False))

    def read_layers(self, parameters, context):
        class_field = self.parameterAsString(parameters, CLASS_FIELD, context)
        self.labels = label_features_from_layer(
            self.parameterAsVectorLayer(parameters, LABELS, context), class_field, "Labels",
            self.parameterAsString(parameters, CLASS_NAME_FIELD, context))
        self.validation = None
        validation_layer = self.parameterAsVectorLayer(parameters, VALIDATION, context)
        if validation_layer is not None:
            field = self.parameterAsString(parameters, VALIDATION_FIELD, context) or class_field
            self.validation, _, _ = label_features_from_layer(validation_layer, field, "Validation")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        self.raise_layer_error()
        require_dependencies()
        from ..core import classifier_run
        from ..core.atomic import check_output_folder
        from ..core.finetune import ClassifierConfig
        from ..core.inputs import GridOptions

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        labels, names, colors = self.labels
        validation = self.validation
        config = ClassifierConfig(
            patch_size=self.parameterAsInt(parameters, PATCH_SIZE, context),
            epochs=self.parameterAsInt(parameters, EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, BATCH_SIZE, context),
            learning_rate=self.parameterAsDouble(parameters, LEARNING_RATE, context),
            seed=seed, device=device,
            classifier=self.parameterAsEnumString(parameters, CLASSIFIER, context) or CLASSIFIER_CHOICES[0])
        pretrained_path = self.parameterAsFile(parameters, PRETRAINED, context) or None
        train_ratio = self.parameterAsDouble(parameters, TRAIN_RATIO, context)
        model_path = self.parameterAsFileOutput(parameters, OUTPUT_MODEL, context)
        report_path = self.parameterAsFileOutput(parameters, OUTPUT_REPORT, context) or None
        options = GridOptions(**self.grid_options(parameters, context))
        memory_mb = self.parameterAsInt(parameters, MEMORY_MB, context)
        progress = FeedbackProgress(feedback)

        def work():
            config.validate()
            check_output_folder(model_path, "classifier model")
            if report_path:
                check_output_folder(report_path, "report")
            pretrained = classifier_run.load_pretrained(pretrained_path) if pretrained_path else None
            prepared = classifier_run.prepare_for_training(modalities, options, pretrained, seed)
            try:
                return classifier_run.train_and_save(
                    prepared, labels, config, model_path, report_path, train_ratio, validation,
                    names, colors, pretrained, pretrained_path, progress, memory_mb)
            finally:
                prepared.close()

        metadata = run_guarded(work)
        if metadata is None:
            raise QgsProcessingException("Training produced no model.")
        results = {OUTPUT_MODEL: model_path}
        if report_path:
            results[OUTPUT_REPORT] = report_path
        return results
