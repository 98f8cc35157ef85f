"""mmsiam:pretrain — self-supervised pretraining of the multimodal Siamese network."""

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from .compat import DOUBLE, INTEGER
from .common import (
    LABELS,
    MEMORY_MB,
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

# New choices go at the end: a script may give the enum's index.
OBJECTIVE_CHOICES = ["simsiam", "simclr", "clip", "context"]
DEFAULT_OBJECTIVE = "context"  # core.learn.pretraining.DEFAULT_OBJECTIVE (torch is not imported here)
TRAINING_FORMS = ["dense", "patch"]
PRECISION_CHOICES = ["auto", "float32", "bfloat16"]


class PretrainAlgorithm(MmsiamAlgorithm):
    def name(self):
        return "pretrain"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Pretrain multimodal Siamese network (no labels)"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Learns what the pixels of your rasters look like, without any labels, so that a "
            "classifier later needs only a few labelled points. Give one raster per sensor of the "
            "same area (two or more sensors work best). Out comes a pretrained model for 'Train "
            "few-shot land-cover classifier' (or 'Map land cover from a few labels').\n\n"
            "Hyperspectral, Multispectral, SAR raster, Extra modalities: one raster per sensor "
            "(hover a raster box for details).\n"
            "Patch size: the window of pixels around each pixel that the network looks at (5). "
            "Larger windows suit very high resolution imagery, where texture matters.\n"
            "Epochs: how long it learns (25); each epoch looks at 'Samples per epoch' pixels.\n"
            "Batch size, Learning rate: how it learns; the defaults follow the paper.\n"
            "Contrastive objective: context (default) asks the network to tell, from a pixel's "
            "surroundings in one sensor (the pixel itself hidden), what another sensor sees at that "
            "pixel. In our tests its features separated the classes better than simsiam's on every "
            "scene and the network alone failed less often, for up to 1.6 times simsiam's time. "
            "simsiam: the paper's, whole patches on both sides. simclr and clip: for comparisons.\n"
            "Training form (simsiam, simclr, clip): dense (default) learns every pixel of a small "
            "crop in one pass, faster for rasters with few bands; patch learns patch by patch and "
            "gave better features on 0.5 m imagery in our tests. The context objective always "
            "trains patch by patch (each patch hides its own centre).\n"
            "Precision: auto uses a faster number format where the processor supports it.\n"
            "Seed: the same seed gives the same model on a CPU.\n"
            f"{TRAINING_MEMORY_HELP}\n"
            "Device: auto uses a CUDA GPU when there is one.\n"
            "Labels to score the features with (optional): points or polygons of your classes, as for "
            "training. Pretraining does not learn from them; afterwards a linear probe says how well "
            "the learned features alone separate the classes: a logistic regression on the features "
            "of some labels, tested on labels in other places (3 spatially blocked folds), beside a "
            "linear model (shrinkage LDA) on the same pixels' own bands. Seconds for a few hundred "
            "labels. Class field: the field with each label's class; left empty, a field named like "
            "class, label or type is used.\n"
            "Pretrained model: the output file (.pt). Pretraining report: the learning curves "
            "and the linear probe (HTML).\n\n"
            "The log shows each epoch's loss, the spread of the features (near 0 means the "
            "network learned nothing useful) and the time left. Cancel stops within one batch and "
            "writes no file.\n\n"
            "Method: a multimodal Siamese network; each sensor has its own input layer into one "
            "shared encoder, which learns to give the same pixel seen by different sensors the "
            "same features (SimSiam-style; by default one side sees only the pixel's surroundings). "
            "With a single raster, two randomly flipped, rotated "
            "and noisy views of each patch stand in for two sensors (R. Liu et al., Contrastive "
            "Learning for Urban Land Cover Classification With Multimodal Siamese Network, IEEE "
            "GRSL 2024).")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            PATCH_SIZE, "Patch size (odd, pixels)", INTEGER,
            defaultValue=5, minValue=3, maxValue=63))
        self.addParameter(QgsProcessingParameterNumber(
            EPOCHS, "Epochs", INTEGER, defaultValue=25, minValue=1))
        self.add_advanced(QgsProcessingParameterNumber(
            BATCH_SIZE, "Batch size", INTEGER, defaultValue=512, minValue=2))
        self.add_advanced(QgsProcessingParameterNumber(
            LEARNING_RATE, "Learning rate (AdamW)", DOUBLE,
            defaultValue=0.002, minValue=0.0))
        self.add_advanced(QgsProcessingParameterNumber(
            SAMPLES_PER_EPOCH, "Samples per epoch (unlabelled pixel centres)",
            INTEGER, defaultValue=8192, minValue=2))
        self.add_advanced(QgsProcessingParameterEnum(
            OBJECTIVE, "Contrastive objective", options=OBJECTIVE_CHOICES, defaultValue=DEFAULT_OBJECTIVE,
            usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterEnum(
            TRAINING_FORM, "Training form", options=TRAINING_FORMS, defaultValue="dense",
            usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterEnum(
            PRECISION, "Precision of the forward pass", options=PRECISION_CHOICES, defaultValue="auto",
            usesStaticStrings=True))
        self.add_seed_and_device()
        self.add_training_memory()
        self.add_label_parameters(description="Labels to score the features with (linear probe)",
                                  optional=True)
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_MODEL, "Pretrained model", fileFilter="Model files (*.pt)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, "Pretraining report", fileFilter="HTML files (*.html)", optional=True,
            createByDefault=False))

    def read_layers(self, parameters, context):
        # a label layer that is given but cannot be loaded is refused (read_labels), not ignored
        given = parameters.get(LABELS) not in (None, "")
        self.labels = self.read_labels(parameters, context) if given else None

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        self.raise_layer_error()
        require_dependencies()
        from ..core.io.inputs import GridOptions
        from ..core.jobs.pretrain_run import pretrain_job
        from ..core.learn.pretraining import PretrainConfig

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        config = PretrainConfig(
            patch_size=self.parameterAsInt(parameters, PATCH_SIZE, context),
            epochs=self.parameterAsInt(parameters, EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, BATCH_SIZE, context),
            learning_rate=self.parameterAsDouble(parameters, LEARNING_RATE, context),
            samples_per_epoch=self.parameterAsInt(parameters, SAMPLES_PER_EPOCH, context),
            seed=seed, device=device,
            objective=self.parameterAsEnumString(parameters, OBJECTIVE, context) or DEFAULT_OBJECTIVE,
            dense=(self.parameterAsEnumString(parameters, TRAINING_FORM, context) or "dense") == "dense",
            precision=self.parameterAsEnumString(parameters, PRECISION, context) or "auto")
        model_path = self.parameterAsFileOutput(parameters, OUTPUT_MODEL, context)
        report_path = self.parameterAsFileOutput(parameters, OUTPUT_REPORT, context)
        options = GridOptions(**self.grid_options(parameters, context))
        memory_mb = self.parameterAsInt(parameters, MEMORY_MB, context)
        progress = FeedbackProgress(feedback)
        labels, names = None, None
        if self.labels is not None:
            self.report_class_field(feedback)
            labels, names, _ = self.labels

        run_guarded(pretrain_job, modalities, options, config, model_path, report_path, progress,
                    memory_mb, labels, names)
        results = {OUTPUT_MODEL: model_path}
        if report_path:
            results[OUTPUT_REPORT] = report_path
        return results
