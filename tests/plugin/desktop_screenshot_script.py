"""Run inside real QGIS desktop (`qgis --code THIS`) by tests/plugin/test_desktop.py and
scripts/screenshots.py: train on the Tahoe data, then load the classified raster by every path an
analyst uses (by hand, processing.runAndLoadResults, the Processing dialog with a temporary and a
named output, the graphical model), record what the Layers panel shows for each, take the README's
screenshots, write everything seen as JSON, quit.

Environment: MMSIAM_SHOT_REPO (the repository), MMSIAM_SHOT_DATA (the tahoe folder), MMSIAM_SHOT_OUT (output folder),
MMSIAM_SHOT_EPOCHS (classifier epochs, default 20), MMSIAM_SHOT_PATHS (comma-separated subset of
the load paths, default all)."""

import json
import os
import shutil
import time
import traceback

from qgis.core import (
    QgsApplication,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication, QEvent, Qt, QTimer
from qgis.PyQt.QtWidgets import QDockWidget, QToolButton
from qgis.utils import active_plugins, iface

DATA = os.environ["MMSIAM_SHOT_DATA"]
OUT = os.environ["MMSIAM_SHOT_OUT"]
EPOCHS = int(os.environ.get("MMSIAM_SHOT_EPOCHS", "20"))
ALL_PATHS = ["by_hand", "run_and_load", "dialog_temporary", "dialog_file", "modeler"]
PATHS = [p for p in os.environ.get("MMSIAM_SHOT_PATHS", ",".join(ALL_PATHS)).split(",") if p]
PLUGIN_DIR = os.environ["MMSIAM_SHOT_REPO"]  # `qgis --code` runs this without __file__
MODEL3 = os.path.join(PLUGIN_DIR, "resources", "models", "pretrain_classify.model3")
INPUTS = {"MULTISPECTRAL": os.path.join(DATA, "tahoe_highrez.tif"),
          "SAR": os.path.join(DATA, "tahoe_lidar_highesthit.tif")}
POINTS = os.path.join(DATA, "tahoe_training_points.gpkg")


def wait_for(condition, timeout=300.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("timed out waiting for the run to finish")
        QCoreApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):  # queued work (e.g. layer-tree moves) after the condition
        QCoreApplication.processEvents()


def legend_of(layer):
    """What the Layers panel shows under the layer: its legend entries' texts."""
    view = iface.layerTreeView()
    node = QgsProject.instance().layerTreeRoot().findLayer(layer.id())
    texts = [n.data(Qt.ItemDataRole.DisplayRole) for n in view.layerTreeModel().layerLegendNodes(node)]
    return ["" if text is None else str(text) for text in texts]


def tree_order():
    """Layer ids from top to bottom of the Layers panel."""
    return [n.layerId() for n in QgsProject.instance().layerTreeRoot().findLayers()]


def describe(layer):
    return {"name": layer.name(), "source": layer.source(), "renderer": layer.renderer().type(), "legend": legend_of(layer),
            "position": tree_order().index(layer.id())}


def added_layers(run):
    """Run ``run()``; the raster layers it added to the project (waits for background runs)."""
    before = set(QgsProject.instance().mapLayers())
    run()
    return [QgsProject.instance().mapLayer(i) for i in QgsProject.instance().mapLayers() if i not in before]


def by_kind(layers):
    """{'map': layer, 'confidence': layer} of what a run added (the float32 raster is the confidence)."""
    found = {}
    for layer in layers:
        if isinstance(layer, QgsRasterLayer):
            kind = "confidence" if layer.dataProvider().dataType(1) > 1 else "map"  # 1 = Byte
            found[kind] = describe(layer)
    return found


HOOK_CALLS = []  # (hook, layer source) for every call of the plugin's two styling hooks


def watch_the_hooks():
    """Record which of the plugin's hooks (layer post-processor, project watch) see each layer."""
    from multimodal_siamese.algorithms import styling
    from qgis.utils import plugins

    post_process = styling.ResultStylePostProcessor.postProcessLayer

    def recording_post_process(self, layer, context, feedback):
        HOOK_CALLS.append(("post-processor", layer.source()))
        return post_process(self, layer, context, feedback)

    styling.ResultStylePostProcessor.postProcessLayer = recording_post_process
    watch = plugins["multimodal_siamese"].style_watch
    watch.project.layersAdded.connect(
        lambda layers: HOOK_CALLS.extend(("project watch", layer.source()) for layer in layers))


def record(seen, path, run):
    """What the Layers panel shows after ``run`` loaded the outputs, and which hooks saw them."""
    del HOOK_CALLS[:]
    layers = added_layers(run)
    for _ in range(20):  # as the desktop's event loop would, before the analyst looks
        QCoreApplication.processEvents()
    found = by_kind(layers)
    for kind, shown in found.items():
        shown["hooks"] = sorted({hook for hook, source in HOOK_CALLS if source == shown["source"]})
    seen["paths"][path] = found
    save(seen)


def close(dialog):
    """Close and delete a dialog now: its layer boxes must not outlive the project at exit."""
    dialog.close()
    dialog.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def run_dialog(algorithm, parameters):
    import processing

    dialog = processing.createAlgorithmDialog(algorithm, parameters)
    finished = []
    dialog.algorithmFinished.connect(lambda ok, results: finished.append(ok))
    dialog.show()
    dialog.runAlgorithm()
    wait_for(lambda: finished)
    close(dialog)
    if not finished[0]:
        raise RuntimeError(f"the dialog run of {algorithm} failed")


def main(seen):
    """Fills ``seen`` as it goes (saved after each load path: a crash still tells how far it got)."""
    import processing

    seen["active_plugins"] = list(active_plugins)
    seen["menu_actions"] = [a.objectName() for a in iface.mainWindow().findChildren(
        type(iface.actionExit())) if a.objectName().startswith("mmsiam_")]
    seen["toolbar_button"] = iface.mainWindow().findChild(QToolButton, "mmsiam_toolbutton") is not None
    try:
        watch_the_hooks()
    except (ImportError, KeyError, AttributeError):  # the code before the hooks existed
        seen["hooks_missing"] = True
    model = os.path.join(OUT, "classifier.pt")
    processing.run("mmsiam:trainclassifier", dict(
        INPUTS, LABELS=POINTS, CLASS_FIELD="SPECIES", EPOCHS=EPOCHS, PATCH_SIZE=5, OUTPUT_MODEL=model))
    classify = dict(INPUTS, MODEL=model)
    seen["paths"] = {}
    if "by_hand" in PATHS:
        result = processing.run("mmsiam:classify", dict(classify, OUTPUT=os.path.join(OUT, "by_hand.tif")))
        record(seen, "by_hand", lambda: iface.addRasterLayer(result["OUTPUT"], "Land cover (by hand)"))
    if "run_and_load" in PATHS:
        record(seen, "run_and_load", lambda: processing.runAndLoadResults(
            "mmsiam:classify", dict(classify, OUTPUT=os.path.join(OUT, "run_and_load.tif"),
                                    OUTPUT_CONFIDENCE=os.path.join(OUT, "run_and_load_confidence.tif"))))
    if "dialog_temporary" in PATHS:
        record(seen, "dialog_temporary", lambda: run_dialog(
            "mmsiam:classify", dict(classify, OUTPUT="TEMPORARY_OUTPUT",
                                    OUTPUT_CONFIDENCE="TEMPORARY_OUTPUT")))
    if "dialog_file" in PATHS:
        record(seen, "dialog_file", lambda: run_dialog(
            "mmsiam:classify", dict(classify, OUTPUT=os.path.join(OUT, "dialog.tif"))))
    if "modeler" in PATHS:
        # As an analyst adds it (Processing Toolbox ▸ Models ▸ Add Model to Toolbox): the model
        # file in the profile's models folder, run from its dialog.
        models = os.path.join(QgsApplication.qgisSettingsDirPath(), "processing", "models")
        os.makedirs(models, exist_ok=True)
        shutil.copy(MODEL3, models)
        QgsApplication.processingRegistry().providerById("model").refreshAlgorithms()
        record(seen, "modeler", lambda: run_dialog("model:pretrain_classify", {
            "MODALITY_1": INPUTS["MULTISPECTRAL"], "MODALITY_2": INPUTS["SAR"], "LABELS": POINTS,
            "CLASS_FIELD": "SPECIES", "PRETRAIN_EPOCHS": 1, "CLASSIFIER_EPOCHS": 2,
            "SAMPLES_PER_EPOCH": 128, "PATCH_SIZE": 5,
            "classify:CLASSIFIED": os.path.join(OUT, "modeler.tif")}))
    seen["screenshots"] = screenshots(seen)
    return seen


def screenshots(seen):
    """The README's pictures: the map with its legend in the Layers panel, the one-dialog run."""
    import processing

    shots = {}
    dialog = processing.createAlgorithmDialog("mmsiam:mapfromlabels", dict(
        INPUTS, LABELS=POINTS, OUTPUT_CONFIDENCE=os.path.join(OUT, "confidence.tif")))
    dialog.show()
    dialog.resize(960, 760)
    for _ in range(50):
        QCoreApplication.processEvents()
        time.sleep(0.02)
    shots["mapfromlabels"] = os.path.join(OUT, "screenshot_mapfromlabels.png")
    dialog.grab().save(shots["mapfromlabels"])
    close(dialog)
    root = QgsProject.instance().layerTreeRoot()
    # Keep one map (and its confidence) visible, under the training points.
    keep = [layer for layer in QgsProject.instance().mapLayers().values()
            if layer.source().startswith(os.path.join(OUT, "run_and_load"))]
    for node in root.findLayers():
        if node.layer() not in keep:
            root.removeLayer(node.layer())
    labels = QgsVectorLayer(POINTS, "Training points", "ogr")
    QgsProject.instance().addMapLayer(labels)
    for node in root.findLayers():
        if node.layer().name().lower().startswith("confidence"):
            node.setItemVisibilityChecked(False)
    # The whole screen (no window manager under Xvfb to maximize it), the Layers panel only.
    iface.mainWindow().setGeometry(0, 0, 1280, 900)
    for dock in iface.mainWindow().findChildren(QDockWidget):
        dock.setVisible(dock.objectName() == "Layers")
    iface.layerTreeView().expandAll()
    for _ in range(20):  # the new window size reaches the canvas before the extent is set
        QCoreApplication.processEvents()
    canvas = iface.mapCanvas()
    if keep:
        canvas.setExtent(keep[0].extent())
    canvas.refreshAllLayers()
    canvas.waitWhileRendering()
    for _ in range(50):
        QCoreApplication.processEvents()
        time.sleep(0.02)
    shots["map"] = os.path.join(OUT, "screenshot_map.png")
    iface.mainWindow().grab().save(shots["map"])
    return shots


SEEN = {}


def save(seen):
    text = json.dumps(seen, indent=1, default=repr)  # whole or not at all
    with open(os.path.join(OUT, "seen.json"), "w", encoding="utf-8") as handle:
        handle.write(text)


def finish():
    try:
        main(SEEN)
    except Exception:  # reported to the test through the JSON, which fails on it
        SEEN["error"] = traceback.format_exc()
    finally:
        save(SEEN)
        # Layers removed while the window is whole: QGIS 3.22 crashes at exit when the current
        # layer changes after its style dock is gone.
        iface.layerTreeView().setCurrentLayer(None)
        QgsProject.instance().removeAllMapLayers()
        QCoreApplication.processEvents()
        QgsProject.instance().setDirty(False)  # no "save project?" question on exit
        QgsApplication.exit(0)


# After start-up has finished (plugins loaded, main window shown).
QTimer.singleShot(500, finish)
