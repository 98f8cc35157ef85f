"""mmsiam:mapfromlabels — labels to a styled land-cover map in one run: pretrain (or reuse a
pretrained model, or start from random weights) → train the classifier → classify, through the
same core jobs as the three algorithms."""

from qgis.core import (
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingUtils,
)

from .compat import INTEGER
from .common import (
    ENSEMBLE_HELP,
    MEMORY_MB,
    FeedbackProgress,
    LabelledAlgorithm,
    remember_model,
    require_dependencies,
    run_guarded,
)
from .styling import style_on_load

PRETRAINED = "PRETRAINED"
PRETRAIN_EPOCHS = "PRETRAIN_EPOCHS"
PRETRAIN_SAMPLES_PER_EPOCH = "PRETRAIN_SAMPLES_PER_EPOCH"
EPOCHS = "EPOCHS"
PATCH_SIZE = "PATCH_SIZE"
OUTPUT = "OUTPUT"
OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"
OUTPUT_REPORT = "OUTPUT_REPORT"
OUTPUT_PRETRAINED = "OUTPUT_PRETRAINED"
OUTPUT_MODEL = "OUTPUT_MODEL"

# Share of the progress bar per stage (pretraining dominates the run time).
STAGES_WITH_PRETRAINING = ((0, 70), (70, 92), (92, 100))
STAGES_WITHOUT_PRETRAINING = ((0, 0), (0, 80), (80, 100))


class MapFromLabelsAlgorithm(LabelledAlgorithm):
    def name(self):
        return "mapfromlabels"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return "Map land cover from a few labels"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return (
            "Makes a land-cover map from one or more rasters of the same area and a few labelled "
            "points or polygons, in one run. Give the rasters, the labels and the field holding "
            "their class. Out come the classified map, styled with the class names, an accuracy "
            "report and the two models, so that you can classify other scenes of the same sensors "
            "later with 'Classify land cover'.\n\n"
            "The run has three stages, shown in the log: it first learns from the unlabelled pixels "
            "of the rasters (pretraining; skipped when you give a pretrained model or set the "
            "pretraining epochs to 0), then trains "
            "the classifier on your labels, then classifies every pixel.\n\n"
            "Hyperspectral, Multispectral, SAR raster, Extra modalities: one raster per sensor "
            "(hover a raster box for details).\n"
            "Labels: points (each labels the pixel it falls in) or polygons (every pixel inside).\n"
            "Class field: the field with each label's class; left empty, a field named like class, "
            "label, type, land use or species is used.\n"
            "Class name field: a field with a readable name per class, if the class field holds "
            "numbers.\n"
            "Pretrained model: a model from an earlier run or from 'Pretrain', to skip pretraining.\n"
            "Train ratio: share of each class's labels used to train; the rest measures the accuracy.\n"
            "Validation labels: separate labels for the report's accuracy figures instead.\n"
            "Pretraining epochs, Classifier epochs: how long each stage learns; fewer is faster, "
            "more is usually more accurate. Pretraining epochs 0: no pretraining, the networks "
            "start from random weights, which saves the minutes that pretraining takes. On the "
            "three scenes the plugin was tested on, the default classifier was as accurate either "
            "way; compare both on your data with 'Evaluate against classic classifiers and random "
            "init'.\n"
            f"{ENSEMBLE_HELP}\n"
            "Land-cover map: a GeoTIFF of class codes with the class names and colours. Confidence: "
            "the probability of the chosen class (0–1), if you want it.\n\n"
            "Method: a multimodal Siamese network learns features that agree across sensors without "
            "labels, then a small classifier is trained on them (R. Liu et al., Contrastive Learning "
            "for Urban Land Cover Classification With Multimodal Siamese Network, IEEE GRSL 2024).")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_modality_parameters()
        self.add_label_parameters(with_names=True)
        self.addParameter(QgsProcessingParameterFile(
            PRETRAINED, "Pretrained model (empty: pretrain now)", extension="pt", optional=True))
        self.add_validation_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            PRETRAIN_EPOCHS, "Pretraining epochs (0: none)", INTEGER, defaultValue=25, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            EPOCHS, "Classifier epochs", INTEGER, defaultValue=60, minValue=1))
        self.add_advanced(QgsProcessingParameterNumber(
            PATCH_SIZE, "Patch size (odd, pixels)", INTEGER, defaultValue=5, minValue=3, maxValue=63))
        self.add_networks()
        self.add_advanced(QgsProcessingParameterNumber(
            PRETRAIN_SAMPLES_PER_EPOCH, "Pretraining samples per epoch", INTEGER,
            defaultValue=8192, minValue=2))
        self.add_seed_and_device()
        self.add_training_memory()
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Land-cover map"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            OUTPUT_CONFIDENCE, "Confidence", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, "Training report", fileFilter="HTML files (*.html)", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_PRETRAINED, "Pretrained model", fileFilter="Model files (*.pt)", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_MODEL, "Classifier model", fileFilter="Model files (*.pt)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        self.raise_layer_error()
        require_dependencies()
        from ..core.output.atomic import check_output_folder
        from ..core.jobs.classifier_run import train_job
        from ..core.jobs.classify_run import check_classify_outputs, classify_with_model
        from ..core.learn.finetune import ClassifierConfig
        from ..core.io.inputs import GridOptions
        from ..core.jobs.pretrain_run import pretrain_job
        from ..core.learn.pretraining import PretrainConfig
        from ..core.progress import StageProgress

        modalities = self.modality_inputs(parameters, context)
        seed, device = self.seed_and_device(parameters, context)
        patch_size = self.parameterAsInt(parameters, PATCH_SIZE, context)
        options = GridOptions(**self.grid_options(parameters, context))
        memory_mb = self.parameterAsInt(parameters, MEMORY_MB, context)
        reuse = self.parameterAsFile(parameters, PRETRAINED, context) or None
        pretrain_epochs = self.parameterAsInt(parameters, PRETRAIN_EPOCHS, context)
        pretrain = not reuse and pretrain_epochs > 0
        asked_pretrained = self.parameterAsFileOutput(parameters, OUTPUT_PRETRAINED, context)
        pretrained_path = reuse or (asked_pretrained if pretrain else None)
        model_path = self.parameterAsFileOutput(parameters, OUTPUT_MODEL, context)
        report_path = self.parameterAsFileOutput(parameters, OUTPUT_REPORT, context) or None
        output = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        confidence = self.parameterAsOutputLayer(parameters, OUTPUT_CONFIDENCE, context) or None
        pretrain_config = PretrainConfig(
            patch_size=patch_size, epochs=pretrain_epochs,
            samples_per_epoch=self.parameterAsInt(parameters, PRETRAIN_SAMPLES_PER_EPOCH, context),
            seed=seed, device=device) if pretrain else None
        classifier_config = ClassifierConfig(
            patch_size=patch_size, epochs=self.parameterAsInt(parameters, EPOCHS, context),
            seed=seed, device=device, **self.ensemble_settings(parameters, context))
        training = self.training_labels(parameters, context, feedback)
        progress = FeedbackProgress(feedback)
        stages = STAGES_WITH_PRETRAINING if pretrain else STAGES_WITHOUT_PRETRAINING
        if pretrain and not pretrained_path:
            pretrained_path = QgsProcessingUtils.generateTempFilename("pretrained.pt")

        def work():
            # Everything that can be refused is refused before the long stages start.
            classifier_config.validate()
            if pretrain:
                pretrain_config.validate()
            check_classify_outputs(output, confidence)
            for path, what in ((model_path, "classifier model"), (report_path, "report"),
                               (pretrained_path if pretrain else None, "pretrained model")):
                if path:
                    check_output_folder(path, what)
            if pretrain:
                feedback.pushInfo("Stage 1 of 3: pretraining on the unlabelled pixels.")
                pretrain_job(modalities, options, pretrain_config, pretrained_path, None,
                             StageProgress(progress, *stages[0]), memory_mb)
            elif reuse:
                feedback.pushInfo(f"Stage 1 of 3: reusing the pretrained model '{reuse}'.")
            else:
                feedback.pushInfo("Stage 1 of 3: no pretraining (Pretraining epochs is 0): the "
                                  "networks start from random weights.")
                if asked_pretrained and not asked_pretrained.startswith(QgsProcessingUtils.tempFolder()):
                    feedback.pushWarning(f"No pretrained model is written to '{asked_pretrained}': "
                                         "Pretraining epochs is 0.")
            feedback.pushInfo("Stage 2 of 3: training the classifier on the labels.")
            train_job(modalities, options, classifier_config, model_path, report_path,
                      pretrained_path, StageProgress(progress, *stages[1]), memory_mb, **training)
            feedback.pushInfo("Stage 3 of 3: classifying the scene.")
            classify_with_model(modalities, model_path, output, confidence, memory_mb, device,
                                StageProgress(progress, *stages[2]))

        run_guarded(work)
        remember_model(model_path)
        self.outputs_to_style = (output, confidence)
        results = {OUTPUT: output, OUTPUT_MODEL: model_path}
        if pretrain:
            results[OUTPUT_PRETRAINED] = pretrained_path
        for name, value in ((OUTPUT_CONFIDENCE, confidence), (OUTPUT_REPORT, report_path)):
            if value:
                results[name] = value
        return results

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 (QGIS API name)
        style_on_load(context, *getattr(self, "outputs_to_style", ()))
        return {}
