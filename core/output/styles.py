"""QGIS styles (.qml) for the rasters the plugin writes: text only, QGIS-free and light (no
torch), so that the plugin's styling hooks can read the marks without the heavy packages."""

from __future__ import annotations

import os
from xml.sax.saxutils import quoteattr


# Marks the styles this plugin writes (QGIS keeps them as the layer's custom properties): the
# plugin applies them to its outputs whatever path loads them, and keeps the confidence raster
# below the map it belongs to.
STYLE_KIND = "mmsiam/kind"
STYLE_MAP = "mmsiam/classified"
CONFIDENCE_COLORS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]  # viridis, 0 → 1


def _qml(renderer: str, properties: dict) -> str:
    custom = "\n".join(f'    <property key={quoteattr(k)} value={quoteattr(v)}/>' for k, v in properties.items())
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
  <pipe>
{renderer}
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
  <customproperties>
{custom}
  </customproperties>
</qgis>
"""


def paletted_qml(classes: list, nodata: int) -> str:
    """A QGIS paletted-renderer style with class names, for the classified raster."""
    entries = "\n".join(
        f'        <paletteEntry value="{c.code}" color="{c.color}" alpha="255" label={quoteattr(c.name)}/>'
        for c in classes)
    return _qml(f"""    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
    </rasterrenderer>""", {STYLE_KIND: "classified"})


def confidence_qml(map_path: str) -> str:
    """A QGIS style for the confidence raster: a sequential ramp from 0 (unsure) to 1 (sure),
    with a legend; it names the classified raster it belongs to."""
    stops = len(CONFIDENCE_COLORS) - 1
    labels = {0: "0 (unsure)", stops: "1 (sure)"}
    items = "\n".join(
        f'          <item alpha="255" value="{k / stops:g}" color="{color}" '
        f'label={quoteattr(labels.get(k, f"{k / stops:g}"))}/>'
        for k, color in enumerate(CONFIDENCE_COLORS))
    return _qml(f"""    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1"
        classificationMin="0" classificationMax="1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="2" clip="0"
            minimumValue="0" maximumValue="1" labelPrecision="2">
{items}
          <rampLegendSettings minimumLabel="" maximumLabel="" prefix="" suffix="" direction="0"
              useContinuousLegend="0" orientation="2"/>
        </colorrampshader>
      </rastershader>
    </rasterrenderer>""", {STYLE_KIND: "confidence", STYLE_MAP: os.path.abspath(map_path)})


def style_path(raster_path: str) -> str:
    """Where QGIS looks for a raster's default style: '<name>.qml' beside it."""
    return os.path.splitext(raster_path)[0] + ".qml"
