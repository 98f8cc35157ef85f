"""Run inside real QGIS desktop by test_desktop_dependencies.py (`qgis --code THIS`).

MMSIAM_DESKTOP_CHECK=train: train a classifier through processing.run (a stand-in triton is
importable), say whether triton was imported and which BLAS torch multiplies with.
MMSIAM_DESKTOP_CHECK=offer: QGIS runs without torch; screenshot the window with the plugin's
missing-dependency message bar and measure it.
Writes what it saw as JSON, then quits."""

import json
import os
import sys
import traceback

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QCoreApplication, QTimer
from qgis.PyQt.QtWidgets import QDockWidget, QPushButton, QTextBrowser
from qgis.utils import iface

OUT = os.environ["MMSIAM_SHOT_OUT"]


def train():
    import processing

    data = os.environ["MMSIAM_SHOT_DATA"]
    inputs = {"MULTISPECTRAL": os.path.join(data, "tahoe_highrez.tif"),
              "SAR": os.path.join(data, "tahoe_lidar_highesthit.tif")}
    model = os.path.join(OUT, "classifier.pt")
    processing.run("mmsiam:trainclassifier", dict(
        inputs, LABELS=os.path.join(data, "tahoe_training_points.gpkg"), CLASS_FIELD="SPECIES",
        EPOCHS=1, PATCH_SIZE=5, OUTPUT_MODEL=model))
    with open("/proc/self/maps", encoding="utf-8") as maps:
        llvm = sorted({line.split()[-1] for line in maps if "libLLVM" in line})
    iface.mainWindow().resize(1280, 900)
    QCoreApplication.processEvents()
    from blas_probe import product_digest  # tests/, on PYTHONPATH

    return {"trained": os.path.isfile(model), "triton_in_sys_modules": "triton" in sys.modules,
            "product_digest": product_digest(),
            "layers_panel_width": iface.mainWindow().findChild(QDockWidget, "Layers").width(),
            "llvm_loaded_by_the_desktop": llvm}


def offer():
    window = iface.mainWindow()
    window.resize(1280, 900)
    QCoreApplication.processEvents()
    button = window.findChild(QPushButton, "mmsiam_install_dependencies")
    if button is None:
        return {"offer": None}
    item = button.parentWidget()
    browser = item.findChild(QTextBrowser)
    document = browser.document()
    block, lines = document.begin(), 0
    while block.isValid():
        if block.text().strip():  # the item's HTML may hold an empty (style) block
            lines += block.layout().lineCount()
        block = block.next()
    natural = document.clone()
    natural.setTextWidth(-1)  # unwrapped: the width the one line needs
    screenshot = os.path.join(OUT, "dependency_offer.png")
    window.grab().save(screenshot)
    panels = window.findChild(QDockWidget, "Layers")
    seen = {"offer": browser.toPlainText(), "lines": lines, "window_width": window.width(),
            "bar_width": iface.messageBar().width(), "item_width": item.width(),
            "layers_panel_width": panels.width(),
            "text_needs_px": round(natural.idealWidth()), "text_has_px": browser.viewport().width(),
            "buttons": sorted(b.text() for b in item.findChildren(QPushButton) if b.text()),
            "screenshot": screenshot}
    return seen


def finish():
    try:
        seen = {"train": train, "offer": offer}[os.environ["MMSIAM_DESKTOP_CHECK"]]()
    except Exception:  # reported to the test through the JSON, which fails on it
        seen = {"error": traceback.format_exc()}
    with open(os.path.join(OUT, "seen.json"), "w", encoding="utf-8") as handle:
        json.dump(seen, handle)
    QgsProject.instance().setDirty(False)
    QgsApplication.exit(0)


QTimer.singleShot(1500, finish)
