"""Run inside real QGIS desktop by test_desktop.py (`qgis --code THIS`): train and classify on the
Tahoe data, show the result on the canvas, save a screenshot, write what was seen as JSON, quit."""

import json
import os
import traceback

from qgis.core import QgsApplication, QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QToolButton
from qgis.utils import active_plugins, iface

DATA = os.environ["MMSIAM_SHOT_DATA"]
OUT = os.environ["MMSIAM_SHOT_OUT"]
EPOCHS = int(os.environ.get("MMSIAM_SHOT_EPOCHS", "20"))


def main():
    import processing

    seen = {"active_plugins": list(active_plugins)}
    seen["menu_actions"] = sorted(a.objectName() for a in iface.mainWindow().findChildren(
        type(iface.actionExit())) if a.objectName().startswith("mmsiam_"))
    seen["toolbar_button"] = iface.mainWindow().findChild(QToolButton, "mmsiam_toolbutton") is not None
    inputs = {"MULTISPECTRAL": os.path.join(DATA, "tahoe_highrez.tif"),
              "SAR": os.path.join(DATA, "tahoe_lidar_highesthit.tif")}
    points = os.path.join(DATA, "tahoe_training_points.gpkg")
    model = os.path.join(OUT, "classifier.pt")
    processing.run("mmsiam:trainclassifier", dict(
        inputs, LABELS=points, CLASS_FIELD="SPECIES", EPOCHS=EPOCHS, PATCH_SIZE=5, OUTPUT_MODEL=model))
    result = processing.run("mmsiam:classify", dict(inputs, MODEL=model,
                                                     OUTPUT=os.path.join(OUT, "landcover.tif")))
    layer = iface.addRasterLayer(result["OUTPUT"], "Land cover (mmsiam:classify)")
    labels = QgsVectorLayer(points, "Training points", "ogr")
    QgsProject.instance().addMapLayer(labels)
    renderer = layer.renderer()
    seen["renderer"] = renderer.type()
    seen["classes"] = [c.label for c in renderer.classes()] if renderer.type() == "paletted" else []
    canvas = iface.mapCanvas()
    canvas.setExtent(layer.extent())
    canvas.refreshAllLayers()
    canvas.waitWhileRendering()
    screenshot = os.path.join(OUT, "screenshot_classify.png")
    canvas.saveAsImage(screenshot)
    seen["screenshot"] = screenshot
    return seen


def finish():
    try:
        seen = main()
    except Exception:  # reported to the test through the JSON, which fails on it
        seen = {"error": traceback.format_exc()}
    with open(os.path.join(OUT, "seen.json"), "w", encoding="utf-8") as handle:
        json.dump(seen, handle)
    QgsProject.instance().setDirty(False)  # no "save project?" question on exit
    QgsApplication.exit(0)


# After start-up has finished (plugins loaded, main window shown).
QTimer.singleShot(500, finish)
