"""The classified map and its confidence raster appear styled whatever path loads them.

mmsiam:classify writes a style ('<name>.qml') beside each raster it makes (core/output/styles.py). QGIS
applies such a file only when a layer is added by hand; Processing (dialogs, models,
``processing.runAndLoadResults``) loads its outputs without it. Two hooks apply it:

* a layer post-processor that the algorithm sets on the outputs Processing will load
  (``context.layerToLoadOnCompletionDetails``): dialogs and ``runAndLoadResults``;
* a plugin-level watch on the project's added layers (set by the plugin in the desktop), which
  also covers the graphical modeler and anything else that adds the file.

Both apply only styles this plugin wrote (they carry the custom property ``mmsiam/kind``), never
over a layer that already has one (a saved project keeps the analyst's own changes), and move the
confidence raster just below the map it belongs to.
"""

from __future__ import annotations

import html
import os
import re

from qgis.core import QgsProcessingLayerPostProcessorInterface, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer

from ..core.output.styles import STYLE_KIND, STYLE_MAP, style_path

_MARKS = re.compile(r"""<property key=["'](mmsiam/[^"']+)["'] value=["']([^"']*)["']""")
# Layers styled by these hooks in this session (the other hook may still have to order them).
_STYLED_HERE: set = set()
# Post-processors must outlive the algorithm run: Processing keeps only a C++ pointer.
_KEEP_ALIVE: list = []


def plugin_style_of(layer):
    """(path, text) of the plugin's style file beside ``layer``'s raster, or None."""
    if not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal":
        return None
    qml = style_path(layer.source().split("|")[0])
    if not os.path.isfile(qml):
        return None
    with open(qml, encoding="utf-8") as handle:
        text = handle.read()
    return (qml, text) if STYLE_KIND in text else None


def apply_result_style(layer) -> bool:
    """Apply the plugin's style to one of its rasters (unless the layer already has one); keep a
    confidence raster below its map. True when the layer is one of the plugin's."""
    if layer.customProperty(STYLE_KIND):
        if layer.id() not in _STYLED_HERE:
            # Styled by QGIS (added by hand) or saved so in a project: the analyst's order stays.
            return True
    else:
        style = plugin_style_of(layer)
        if style is None:
            return False
        qml, text = style
        layer.loadNamedStyle(qml)
        # The marks themselves, whether or not this QGIS reads a style's custom properties.
        for key, value in _MARKS.findall(text):
            layer.setCustomProperty(key, html.unescape(value))
        layer.triggerRepaint()
        _STYLED_HERE.add(layer.id())
    layer_id = layer.id()
    keep_confidence_below_map(layer_id)
    # Again once the layer has its place in the Layers panel: the project's layersAdded comes
    # before the layer tree adds its node, and Processing may put it in a group afterwards.
    QTimer.singleShot(0, lambda: keep_confidence_below_map(layer_id))
    return True


def keep_confidence_below_map(layer_id: str, project=None):
    """Move every confidence raster that sits above its classified map to just below it."""
    project = project or QgsProject.instance()
    root = project.layerTreeRoot()
    nodes = root.findLayers()
    if not any(node.layerId() == layer_id for node in nodes):
        return
    by_source = {os.path.abspath(node.layer().source()): node for node in nodes if node.layer() is not None}
    for position, node in enumerate(nodes):
        layer = node.layer()
        if layer is None or layer.customProperty(STYLE_KIND) != "confidence":
            continue
        map_node = by_source.get(str(layer.customProperty(STYLE_MAP)))
        if map_node is None or nodes.index(map_node) < position:
            continue
        parent = map_node.parent()
        clone = node.clone()
        parent.insertChildNode(parent.children().index(map_node) + 1, clone)
        node.parent().removeChildNode(node)
        return keep_confidence_below_map(layer_id, project)  # the tree changed: look again


class ResultStylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        apply_result_style(layer)


def style_on_load(context, *paths):
    """Have Processing style these outputs when it loads them (dialogs, runAndLoadResults)."""
    for path in paths:
        if path and context.willLoadLayerOnCompletion(path):
            processor = ResultStylePostProcessor()
            _KEEP_ALIVE.append(processor)
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(processor)


class ProjectStyleWatch:
    """Plugin-level: style the plugin's rasters when any path adds them to the project."""

    def __init__(self, project=None):
        self.project = project or QgsProject.instance()
        self.project.layersAdded.connect(self.on_layers_added)

    def on_layers_added(self, layers):
        for layer in layers:
            apply_result_style(layer)

    def unload(self):
        self.project.layersAdded.disconnect(self.on_layers_added)
