"""mmsiam:evaluate — the paper's protocol on the analyst's data, with honest splits and baselines."""

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .compat import INTEGER
from .common import (
    ENSEMBLE_HELP,
    FeedbackProgress,
    MmsiamAlgorithm,
    require_dependencies,
    run_guarded,
)
from .pretrain import DEFAULT_OBJECTIVE, OBJECTIVE_CHOICES

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
        return "Evaluate against classic classifiers and random init"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Tells you, on your own labels, whether the default classifier beats the classic "
            "classifiers and whether pretraining pays off, before you rely on either. Give the "
            "rasters and your labels. It trains the default classifier and the network alone "
            "several times, with and without pretraining, and the default's spectral path alone "
            "(CLASSIFIER=linear), next to the classic classifiers on the "
            "pixel values (a random forest, shrinkage LDA and logistic regression), on growing "
            "shares of the labels, and writes a table and a report of the accuracies.\n\n"
            "Hyperspectral, Multispectral, SAR raster, Extra modalities: one raster per sensor "
            "(hover a raster box for details).\n"
            "Labels, Class field: your labelled points or polygons, as for training.\n"
            "Pretrained model: empty pretrains inside the evaluation (Pretraining epochs, "
            "Pretraining samples per epoch and Contrastive objective apply; no labels are used).\n"
            "Folds: how many times the labels are split into training and test parts (5).\n"
            "Training ratios: the shares of each training part to train on, comma-separated.\n"
            "Classifier epochs: how long each classifier learns.\n"
            f"{ENSEMBLE_HELP}\n"
            "Split: blocks (default) puts whole square blocks of the map into the test part, so that "
            "no training pixel sits next to a test pixel; random splits pixel by pixel, as in the "
            "paper, which flatters every method when labels are dense.\n"
            "Block size: side of those blocks in pixels. Blocks go to folds at random, but so that "
            "each fold trains on every class it tests where the blocks allow; where they do not, the "
            "log and the report name the class and fold. They also name the folds that test no "
            "pixel of a class: there AA, mIoU and kappa describe fewer classes.\n"
            "Modality subsets: all rasters together, or every combination of them.\n"
            "Evaluation table: one row per fold, share, subset and method (CSV), with its accuracies, "
            "per-class IoU and, beside the shrinkage LDA, the share of the LDA's misses it gets right "
            "and of the LDA's hits it gets wrong. Evaluation report: "
            "mean and spread of overall accuracy, kappa and per-class scores, and the gain of "
            "pretraining for the network and for the default classifier, with the runs where it "
            "did not lose and, beside the shrinkage LDA, how many of the pixels it misses each "
            "network gets right: only there can pretraining improve the default's map (HTML, with a "
            "JSON summary beside it). Its Table III, also in the log, holds the default classifier "
            "against the best classic classifier per share of labels: the difference in OA and mIoU, "
            "run by run on the same pixels, and in how many runs it was not worse, or at most 2 points "
            "worse. Where it is not ahead, a classic classifier gives as good a map in seconds. Its "
            "Table IV holds the default against its own spectral path alone (CLASSIFIER=linear, no "
            "network): what the pretrained networks add to your map.\n\n"
            "Method: the k-fold protocol of R. Liu et al., Contrastive Learning for Urban Land Cover "
            "Classification With Multimodal Siamese Network, IEEE GRSL 2024 (Table I), with a "
            "spatially blocked split added.")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters()
        self.add_label_parameters()
        self.addParameter(QgsProcessingParameterFile(
            PRETRAINED, "Pretrained model (empty = pretrain inside the evaluation)", extension="pt",
            optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            PRETRAIN_EPOCHS, "Pretraining epochs", INTEGER, defaultValue=25,
            minValue=1))
        self.add_advanced(QgsProcessingParameterNumber(
            PRETRAIN_SAMPLES_PER_EPOCH, "Pretraining samples per epoch", INTEGER,
            defaultValue=8192, minValue=2))
        self.add_advanced(QgsProcessingParameterEnum(
            OBJECTIVE, "Contrastive objective", options=OBJECTIVE_CHOICES, defaultValue=DEFAULT_OBJECTIVE,
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            FOLDS, "Folds", INTEGER, defaultValue=5, minValue=2))
        self.addParameter(QgsProcessingParameterString(
            TRAIN_RATIOS, "Training ratios (comma-separated)", defaultValue="0.05,0.1,0.2,0.4,1.0"))
        self.addParameter(QgsProcessingParameterNumber(
            EPOCHS, "Classifier epochs", INTEGER, defaultValue=60, minValue=1))
        self.add_networks()
        self.addParameter(QgsProcessingParameterEnum(
            SPLIT, "Split", options=["random", "blocks"], defaultValue="blocks", usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterNumber(
            BLOCK_SIZE, "Block size (pixels, for the blocks split)", INTEGER,
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
        self.labels = self.read_labels(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        self.raise_layer_error()
        require_dependencies()
        self.report_class_field(feedback)
        from ..core.learn.evaluation import EvaluationConfig, parse_ratios, parse_seeds
        from ..core.jobs.evaluation_run import run_evaluation
        from ..core.io.inputs import GridOptions
        from ..core.learn.pretraining import PretrainConfig

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
                **self.ensemble_settings(parameters, context),
                seeds=parse_seeds(self.parameterAsString(parameters, SEEDS, context) or ""))
            pretrain_config = PretrainConfig(
                epochs=self.parameterAsInt(parameters, PRETRAIN_EPOCHS, context),
                samples_per_epoch=self.parameterAsInt(parameters, PRETRAIN_SAMPLES_PER_EPOCH, context),
                objective=self.parameterAsEnumString(parameters, OBJECTIVE, context) or DEFAULT_OBJECTIVE,
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
