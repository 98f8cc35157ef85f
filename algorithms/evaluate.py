"""mmsiam:evaluate — the paper's protocol on the analyst's data, with honest splits and baselines."""

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .common import (
    CLASS_FIELD,
    LABELS,
    MmsiamAlgorithm,
    FeedbackProgress,
    MODALITY_HELP,
    label_features_from_layer,
    require_dependencies,
    run_guarded,
)
from .pretrain import OBJECTIVE_CHOICES

PRETRAINED = "PRETRAINED"
PRETRAIN_EPOCHS = "PRETRAIN_EPOCHS"
PRETRAIN_SAMPLES_PER_EPOCH = "PRETRAIN_SAMPLES_PER_EPOCH"
OBJECTIVE = "OBJECTIVE"
FOLDS = "FOLDS"
TRAIN_RATIOS = "TRAIN_RATIOS"
EPOCHS = "EPOCHS"
SPLIT = "SPLIT"
BLOCK_SIZE = "BLOCK_SIZE"
MODALITY_SUBSETS = "MODALITY_SUBSETS"
SEEDS = "SEEDS"
OUTPUT_TABLE = "OUTPUT_TABLE"
OUTPUT_REPORT = "OUTPUT_REPORT"


class EvaluateAlgorithm(MmsiamAlgorithm):
    def name(self):
        return "evaluate"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Evaluate pretraining against random init and random forest"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Checks on your own data whether contrastive pretraining helps when labels are few (the "
            "paper's Table I protocol): k-fold cross-validation; in each fold the fusion classifier is "
            "trained on several fractions of the training fold from random weights and from pretrained "
            "weights, and a random forest on per-pixel band values (the classic QGIS workflow) is "
            "trained on the same samples. Reports OA, AA, kappa, mIoU and per-class IoU.\n\n"
            f"Modalities: {MODALITY_HELP}\n\n"
            "Labels / Class field: the labelled points or polygons (as for training).\n"
            "Pretrained model: optional; when empty, pretraining runs inside the evaluation with "
            "Pretraining epochs, Pretraining samples per epoch and Objective (no labels are used).\n"
            "Folds: number of cross-validation folds (5 as in the paper).\n"
            "Training ratios: fractions of each training fold used to train, comma-separated.\n"
            "Epochs: classifier epochs.\n"
            "Split: 'random' as in the paper (optimistic with dense labels: neighbouring pixels share "
            "most of a patch) or 'blocks': square spatial blocks go to folds, and training pixels "
            "within PATCH_SIZE//2 of a test pixel are dropped, so no patch straddles train and test.\n"
            "Block size: side of the spatial blocks in pixels (default three patch widths).\n"
            "Modality subsets: 'all' modalities together, or 'every' non-empty subset (H, M, S, HM, "
            "HS, MS, HMS in the paper).\n"
            "Seeds: optional comma-separated seeds (e.g. 42,43,44): the whole evaluation runs once per "
            "seed and the report shows the spread; empty = the Seed parameter alone.\n"
            "Table: CSV with one row per seed × fold × ratio × subset × method. Report: HTML with a Table "
            "I-style summary (mean ± std), a Table II-style per-class IoU table and a Fig. 3-style "
            "plot of the gain of pretraining; a JSON summary is written beside it.")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters()
        self.add_label_parameters()
        self.addParameter(QgsProcessingParameterFile(
            PRETRAINED, "Pretrained model (empty = pretrain inside the evaluation)", extension="pt",
            optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            PRETRAIN_EPOCHS, "Pretraining epochs", QgsProcessingParameterNumber.Integer, defaultValue=25,
            minValue=1))
        self.add_advanced(QgsProcessingParameterNumber(
            PRETRAIN_SAMPLES_PER_EPOCH, "Pretraining samples per epoch", QgsProcessingParameterNumber.Integer,
            defaultValue=8192, minValue=2))
        self.add_advanced(QgsProcessingParameterEnum(
            OBJECTIVE, "Contrastive objective", options=OBJECTIVE_CHOICES, defaultValue="simsiam",
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            FOLDS, "Folds", QgsProcessingParameterNumber.Integer, defaultValue=5, minValue=2))
        self.addParameter(QgsProcessingParameterString(
            TRAIN_RATIOS, "Training ratios (comma-separated)", defaultValue="0.05,0.1,0.2,0.4,1.0"))
        self.addParameter(QgsProcessingParameterNumber(
            EPOCHS, "Classifier epochs", QgsProcessingParameterNumber.Integer, defaultValue=60, minValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            SPLIT, "Split", options=["random", "blocks"], defaultValue="blocks", usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterNumber(
            BLOCK_SIZE, "Block size (pixels, for the blocks split)", QgsProcessingParameterNumber.Integer,
            defaultValue=39, minValue=1))
        self.add_advanced(QgsProcessingParameterEnum(
            MODALITY_SUBSETS, "Modality subsets", options=["all", "every"], defaultValue="all",
            usesStaticStrings=True))
        self.add_seed_and_device()
        self.addParameter(QgsProcessingParameterString(
            SEEDS, "Seeds (comma-separated, empty = Seed only)", defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_TABLE, "Evaluation table", fileFilter="CSV files (*.csv)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, "Evaluation report", fileFilter="HTML files (*.html)", optional=True,
            createByDefault=False))

    def read_layers(self, parameters, context):
        self.labels = label_features_from_layer(
            self.parameterAsVectorLayer(parameters, LABELS, context),
            self.parameterAsString(parameters, CLASS_FIELD, context), "Labels")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        self.raise_layer_error()
        require_dependencies()
        from ..core.evaluation import EvaluationConfig, parse_ratios, parse_seeds
        from ..core.evaluation_run import run_evaluation
        from ..core.inputs import GridOptions
        from ..core.pretraining import PretrainConfig

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        labels, names, colors = self.labels
        table = self.parameterAsFileOutput(parameters, OUTPUT_TABLE, context)
        report = self.parameterAsFileOutput(parameters, OUTPUT_REPORT, context) or None
        options = GridOptions(**self.grid_options(parameters, context))
        progress = FeedbackProgress(feedback)

        def work():
            config = EvaluationConfig(
                folds=self.parameterAsInt(parameters, FOLDS, context),
                train_ratios=parse_ratios(self.parameterAsString(parameters, TRAIN_RATIOS, context)),
                split=self.parameterAsEnumString(parameters, SPLIT, context) or "blocks",
                block_size=self.parameterAsInt(parameters, BLOCK_SIZE, context),
                epochs=self.parameterAsInt(parameters, EPOCHS, context), seed=seed, device=device,
                seeds=parse_seeds(self.parameterAsString(parameters, SEEDS, context) or ""))
            pretrain_config = PretrainConfig(
                epochs=self.parameterAsInt(parameters, PRETRAIN_EPOCHS, context),
                samples_per_epoch=self.parameterAsInt(parameters, PRETRAIN_SAMPLES_PER_EPOCH, context),
                objective=self.parameterAsEnumString(parameters, OBJECTIVE, context) or "simsiam",
                seed=seed, device=device)
            return run_evaluation(
                modalities, options, labels, config, table, report,
                self.parameterAsEnumString(parameters, MODALITY_SUBSETS, context) or "all",
                self.parameterAsFile(parameters, PRETRAINED, context) or None, pretrain_config,
                names, colors, progress)

        run_guarded(work)
        results = {OUTPUT_TABLE: table}
        if report:
            results[OUTPUT_REPORT] = report
        return results
