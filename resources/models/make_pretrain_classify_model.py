#!/usr/bin/env python3
"""Builds pretrain_classify.model3 (mmsiam:pretrain → mmsiam:trainclassifier → mmsiam:classify)
with QgsProcessingModelAlgorithm, so the model is reproducible rather than hand-edited XML.

Run from the repository root:  QT_HASH_SEED=0 QT_QPA_PLATFORM=offscreen .venv/bin/python resources/models/make_pretrain_classify_model.py
(an optional argument writes elsewhere, e.g. to compare with the committed file; QT_HASH_SEED=0
keeps Qt's XML attribute order stable, so a diff shows only what changed)
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUTPUT = os.path.join(HERE, "pretrain_classify.model3")

#: The model's outputs as qgis_process and processing.run name them, on every QGIS version:
#: "<child id>:<output name>". QGIS 3.22 always names them so; newer QGIS (3.40, 3.44) names the
#: outputs of a model it creates after their descriptions ("classified_raster") unless the model
#: is "internal_version" Version1, which this script pins (3.22 has no such key).
OUTPUT_NAMES = {"CLASSIFIED": "classify:CLASSIFIED", "ACCURACY_REPORT": "trainclassifier:ACCURACY_REPORT"}

HELP = (
    "The whole job in one run: pretrains the multimodal Siamese network on the unlabelled pixels of "
    "one or two rasters, trains the few-shot classifier on the labels (with an accuracy report), and "
    "classifies the scene into a styled UInt8 GeoTIFF. The intermediate models are temporary files; "
    "run the three algorithms one by one to keep them or to set their advanced options (learning "
    "rates, batch sizes, resampling, device). Give the rasters in the same order every time.")


def build():
    from multimodal_siamese.algorithms.compat import (
        DOUBLE,
        FLAG_ADVANCED,
        INTEGER,
        VECTOR_POINT,
        VECTOR_POLYGON,
        add_flag,
    )
    from qgis.core import (
        QgsApplication,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource as Source,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterField,
        QgsProcessingParameterNumber,
        QgsProcessingParameterRasterLayer,
        QgsProcessingParameterVectorLayer,
    )
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm()
    model.setName("pretrain_classify")
    model.setGroup("Multimodal Siamese Land Cover")
    model.setHelpContent({"ALG_DESC": HELP, "ALG_CREATOR": "Multimodal Siamese Land Cover developers"})

    def parameter(definition, x, y, advanced=False):
        if advanced:
            add_flag(definition, FLAG_ADVANCED)
        component = QgsProcessingModelParameter(definition.name())
        component.setPosition(QPointF(x, y))
        model.addModelParameter(definition, component)

    integer = INTEGER
    parameter(QgsProcessingParameterRasterLayer(
        "MODALITY_1", "Raster modality 1 (e.g. aerial or multispectral image)"), 120, 60)
    parameter(QgsProcessingParameterRasterLayer(
        "MODALITY_2", "Raster modality 2 (optional: LiDAR, DEM, SAR, another sensor)", optional=True),
        120, 120)
    parameter(QgsProcessingParameterVectorLayer(
        "LABELS", "Labels (points or polygons)",
        [VECTOR_POINT, VECTOR_POLYGON]), 120, 180)
    # Optional: left empty, the training detects it (the dialog would otherwise preselect 'fid').
    parameter(QgsProcessingParameterField("CLASS_FIELD", "Class field (empty: detect)",
                                          parentLayerParameterName="LABELS", optional=True), 120, 240)
    # The plugin's own defaults (pretrain: 25 epochs x 8,192 samples); small values make a quick trial run.
    parameter(QgsProcessingParameterNumber("PRETRAIN_EPOCHS", "Pretraining epochs", integer,
                                           defaultValue=25, minValue=1), 120, 300)
    parameter(QgsProcessingParameterNumber("CLASSIFIER_EPOCHS", "Classifier epochs", integer,
                                           defaultValue=60, minValue=1), 120, 360)
    parameter(QgsProcessingParameterNumber("TRAIN_RATIO", "Train ratio (the rest validates)",
                                           DOUBLE, defaultValue=0.7,
                                           minValue=0.01, maxValue=1.0), 120, 420)
    parameter(QgsProcessingParameterNumber("SAMPLES_PER_EPOCH", "Pretraining samples per epoch", integer,
                                           defaultValue=8192, minValue=2), 120, 480, advanced=True)
    parameter(QgsProcessingParameterNumber("PATCH_SIZE", "Patch size (odd, pixels)", integer,
                                           defaultValue=5, minValue=3, maxValue=63), 120, 540, advanced=True)

    model.setParameterOrder(["MODALITY_1", "MODALITY_2", "LABELS", "CLASS_FIELD", "PRETRAIN_EPOCHS",
                             "CLASSIFIER_EPOCHS", "TRAIN_RATIO", "SAMPLES_PER_EPOCH", "PATCH_SIZE"])
    modalities = {"HYPERSPECTRAL": [Source.fromModelParameter("MODALITY_1")],
                  "MULTISPECTRAL": [Source.fromModelParameter("MODALITY_2")]}

    def child(child_id, algorithm_id, description, x, y, sources, outputs=()):
        step = QgsProcessingModelChildAlgorithm(algorithm_id)
        step.setChildId(child_id)
        step.setDescription(description)
        step.setPosition(QPointF(x, y))
        sources = dict(modalities, **sources)
        for definition in QgsApplication.processingRegistry().algorithmById(algorithm_id).parameterDefinitions():
            if definition.name() in sources or definition.isDestination():
                continue
            # What the modeler dialog would store: each remaining parameter at its default.
            if definition.defaultValue() is not None:
                sources[definition.name()] = [Source.fromStaticValue(definition.defaultValue())]
        for name, value in sources.items():
            step.addParameterSources(name, value)
        model_outputs = {}
        for output_name, child_output, description_text, oy in outputs:
            output = QgsProcessingModelOutput(output_name, description_text)
            output.setChildId(child_id)
            output.setChildOutputName(child_output)
            output.setPosition(QPointF(x + 200, y + oy))
            model_outputs[output_name] = output
        step.setModelOutputs(model_outputs)
        model.addChildAlgorithm(step)

    child("pretrain", "mmsiam:pretrain", "Pretrain (no labels)", 420, 120, {
        "EPOCHS": [Source.fromModelParameter("PRETRAIN_EPOCHS")],
        "SAMPLES_PER_EPOCH": [Source.fromModelParameter("SAMPLES_PER_EPOCH")],
        "PATCH_SIZE": [Source.fromModelParameter("PATCH_SIZE")]})
    child("trainclassifier", "mmsiam:trainclassifier", "Train classifier", 420, 280, {
        "LABELS": [Source.fromModelParameter("LABELS")],
        "CLASS_FIELD": [Source.fromModelParameter("CLASS_FIELD")],
        "PRETRAINED": [Source.fromChildOutput("pretrain", "OUTPUT_MODEL")],
        "EPOCHS": [Source.fromModelParameter("CLASSIFIER_EPOCHS")],
        # An expression, because a model parameter left out of a qgis_process run reaches the child
        # empty (QGIS 3.22 applies model defaults only in the dialog) and the child's default is 1.
        "TRAIN_RATIO": [Source.fromExpression("coalesce(@TRAIN_RATIO, 0.7)")]},
        [("ACCURACY_REPORT", "OUTPUT_REPORT", "Accuracy report", 60)])
    child("classify", "mmsiam:classify", "Classify", 420, 440, {
        "MODEL": [Source.fromChildOutput("trainclassifier", "OUTPUT_MODEL")]},
        [("CLASSIFIED", "OUTPUT", "Classified raster", 60)])
    return model


def write_model(model, output):
    """``model.toFile(output)``, its outputs named ``<child id>:<output name>`` on every QGIS.

    The model is reloaded with ``internal_version`` "Version1" first (see OUTPUT_NAMES): newer QGIS
    then writes that key and keeps the names; 3.22 knows no other naming and writes no key (a
    file without it loads as "Version1" everywhere)."""
    variant = model.toVariant()
    variant["internal_version"] = "Version1"
    if not model.loadVariant(variant):
        raise SystemExit("could not reload the model")
    names = sorted(d.name() for d in model.parameterDefinitions() if d.isDestination())
    if names != sorted(OUTPUT_NAMES.values()):
        raise SystemExit(f"the model's outputs are named {names}, not {sorted(OUTPUT_NAMES.values())}")
    if not model.toFile(output):
        raise SystemExit(f"could not write {output}")


def main(output=OUTPUT):
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    # The plugin's provider, so the child algorithms resolve (the repository root is the plugin).
    parent = tempfile.mkdtemp()
    os.symlink(ROOT, os.path.join(parent, "multimodal_siamese"))
    sys.path.insert(0, parent)
    import multimodal_siamese

    plugin = multimodal_siamese.classFactory(None)  # kept alive: it holds the Python provider
    plugin.initProcessing()
    model = build()
    ok, problems = model.validate()
    if not ok:
        raise SystemExit("model is invalid: " + "; ".join(problems))
    write_model(model, output)
    print(f"wrote {output}")
    plugin.unload()
    app.exitQgis()


if __name__ == "__main__":
    main(*sys.argv[1:2])
