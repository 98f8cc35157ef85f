"""mmsiam:pretrain — self-supervised pretraining of the multimodal Siamese network."""

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from .common import (
    MEMORY_MB,
    MODALITY_HELP,
    TRAINING_MEMORY_HELP,
    FeedbackProgress,
    MmsiamAlgorithm,
    require_dependencies,
    run_guarded,
)

PATCH_SIZE = "PATCH_SIZE"
EPOCHS = "EPOCHS"
BATCH_SIZE = "BATCH_SIZE"
LEARNING_RATE = "LEARNING_RATE"
SAMPLES_PER_EPOCH = "SAMPLES_PER_EPOCH"
OBJECTIVE = "OBJECTIVE"
TRAINING_FORM = "TRAINING_FORM"
PRECISION = "PRECISION"
OUTPUT_MODEL = "OUTPUT_MODEL"
OUTPUT_REPORT = "OUTPUT_REPORT"

OBJECTIVE_CHOICES = ["simsiam", "simclr", "clip"]
TRAINING_FORMS = ["dense", "patch"]
PRECISION_CHOICES = ["auto", "float32", "bfloat16"]


class PretrainAlgorithm(MmsiamAlgorithm):
    def name(self):
        return "pretrain"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Pretrain multimodal Siamese network (no labels)"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Learns features from the unlabelled pixels of several co-registered rasters, so that a "
            "classifier later needs only a few labelled points (Liu et al., IEEE GRSL 2024). Each "
            "modality passes a 3×3 projection convolution into a shared MobileNetV2-style encoder; "
            "the network learns to make the features of the same pixel agree across sensors "
            "(SimSiam-style predictor and stop-gradient, eq. (2) of the paper). With a single "
            "modality, two randomly flipped/rotated, noisy views of the same patch are used instead.\n\n"
            f"Hyperspectral / Multispectral / SAR / Extra modalities: {MODALITY_HELP}\n\n"
            "Patch size: odd window (pixels) around each pixel seen by the network. Default 5: on 30 m "
            "EnMAP it beat the paper's 13 by 2–7 OA points, most under a spatially blocked split "
            "(benchmarks/results/tune_potsdam.md). Try larger windows on very high resolution imagery, "
            "where texture and context matter.\n"
            "Epochs: passes of pretraining (25; the paper's 100 × every pixel was no better on Potsdam).\n"
            "Batch size: pixels per optimisation step (512 as in the paper).\n"
            "Learning rate: AdamW step size (0.002 as in the paper).\n"
            "Samples per epoch: unlabelled pixel centres drawn (afresh) in each epoch (8,192); on larger "
            "scenes it keeps an epoch's cost bounded while pixels all over the scene are drawn.\n"
            "Objective: simsiam (the paper's eq. (2), default), simclr (NT-Xent over cross-modal pairs) "
            "or clip (symmetric cross-modal InfoNCE) for comparisons.\n"
            "Training form: 'dense' (default) runs the network once over small crops and gets every "
            "crop pixel's features at once (the network sees exactly one patch per pixel either way), "
            "3–5x faster than 'patch', one forward pass per pixel patch; on Potsdam both gave the "
            "same downstream accuracy within fold-to-fold noise (benchmarks/results/).\n"
            "Precision: 'auto' (default) computes the forward pass in bfloat16 where the hardware "
            "multiplies it natively (Intel CPUs with AMX, CUDA GPUs), about 1.4x faster on such a CPU "
            "with the same downstream accuracy on Potsdam; weights and loss stay float32. 'float32' "
            "everywhere else or when asked.\n"
            "Seed: the same seed gives the same model on CPU.\n"
            f"{TRAINING_MEMORY_HELP}\n"
            "Device: auto uses a CUDA GPU when torch sees one.\n"
            "Pretrained model: the output file (.pt), opened safely (weights only) by "
            "'Train few-shot land-cover classifier'.\n"
            "Report: optional HTML page with the loss and collapse-monitor curves.\n\n"
            "Progress shows epoch, loss, the spread of the features (z-std; near 0 means collapse) and "
            "the remaining time. Cancel stops within one batch and leaves no model file.")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            PATCH_SIZE, "Patch size (odd, pixels)", QgsProcessingParameterNumber.Integer,
            defaultValue=5, minValue=3, maxValue=63))
        self.addParameter(QgsProcessingParameterNumber(
            EPOCHS, "Epochs", QgsProcessingParameterNumber.Integer, defaultValue=25, minValue=1))
        self.add_advanced(QgsProcessingParameterNumber(
            BATCH_SIZE, "Batch size", QgsProcessingParameterNumber.Integer, defaultValue=512, minValue=2))
        self.add_advanced(QgsProcessingParameterNumber(
            LEARNING_RATE, "Learning rate (AdamW)", QgsProcessingParameterNumber.Double,
            defaultValue=0.002, minValue=0.0))
        self.add_advanced(QgsProcessingParameterNumber(
            SAMPLES_PER_EPOCH, "Samples per epoch (unlabelled pixel centres)",
            QgsProcessingParameterNumber.Integer, defaultValue=8192, minValue=2))
        self.add_advanced(QgsProcessingParameterEnum(
            OBJECTIVE, "Contrastive objective", options=OBJECTIVE_CHOICES, defaultValue="simsiam",
            usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterEnum(
            TRAINING_FORM, "Training form", options=TRAINING_FORMS, defaultValue="dense",
            usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterEnum(
            PRECISION, "Precision of the forward pass", options=PRECISION_CHOICES, defaultValue="auto",
            usesStaticStrings=True))
        self.add_seed_and_device()
        self.add_training_memory()
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_MODEL, "Pretrained model", fileFilter="Model files (*.pt)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, "Pretraining report", fileFilter="HTML files (*.html)", optional=True,
            createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        require_dependencies()
        from ..core.atomic import check_output_folder
        from ..core.inputs import GridOptions, prepare
        from ..core.pretrain_run import run_pretraining
        from ..core.pretraining import PretrainConfig

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        config = PretrainConfig(
            patch_size=self.parameterAsInt(parameters, PATCH_SIZE, context),
            epochs=self.parameterAsInt(parameters, EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, BATCH_SIZE, context),
            learning_rate=self.parameterAsDouble(parameters, LEARNING_RATE, context),
            samples_per_epoch=self.parameterAsInt(parameters, SAMPLES_PER_EPOCH, context),
            seed=seed, device=device,
            objective=self.parameterAsEnumString(parameters, OBJECTIVE, context) or "simsiam",
            dense=(self.parameterAsEnumString(parameters, TRAINING_FORM, context) or "dense") == "dense",
            precision=self.parameterAsEnumString(parameters, PRECISION, context) or "auto")
        model_path = self.parameterAsFileOutput(parameters, OUTPUT_MODEL, context)
        report_path = self.parameterAsFileOutput(parameters, OUTPUT_REPORT, context)
        options = GridOptions(**self.grid_options(parameters, context))
        memory_mb = self.parameterAsInt(parameters, MEMORY_MB, context)
        progress = FeedbackProgress(feedback)

        def work():
            config.validate()
            check_output_folder(model_path, "pretrained model")
            if report_path:
                check_output_folder(report_path, "report")
            prepared = prepare(modalities, options, seed)
            try:
                return run_pretraining(prepared, config, model_path, report_path, progress, memory_mb)
            finally:
                prepared.close()

        run_guarded(work)
        results = {OUTPUT_MODEL: model_path}
        if report_path:
            results[OUTPUT_REPORT] = report_path
        return results
