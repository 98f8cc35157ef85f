#!/usr/bin/env python3
"""Rebuild the demo label layer ``olinda_labels.gpkg`` for the Olinda sample scene.

The points were placed by visual interpretation of true-colour (3,2,1) and
false-colour (4,3,2) composites of the Landsat-7 ETM+ scene ``L7_ETMs.tif``
shipped by the R package *stars* (see README.md in this folder).  The table
below is the single source of truth: every label is a pixel of that scene,
written as (column, row) of the 349 x 352 pixel grid, 0-based, counted from
the upper-left corner.  Each point is stored at the pixel centre in
SIRGAS 2000 / UTM zone 25S (EPSG:31985), the CRS of the image.

Run with the system Python that has GDAL/OGR and QGIS (Debian 12)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 resources/sample/make_olinda_labels.py

The GeoPackage is deleted and written again on every run.  Its default QGIS
style (``layer_styles`` table) is a categorized renderer on ``class_id``.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "olinda_labels.gpkg")
LAYER_NAME = "olinda_labels"
EPSG = 31985

# Geotransform of L7_ETMs.tif (upper-left corner of pixel (0, 0), pixel size in metres).
X0, Y0, PIXEL = 288776.25, 9120760.75, 28.5
N_COLS, N_ROWS = 349, 352

CLASSES = {
    1: ("sea", "#1f4e9c"),
    2: ("inland water", "#4fa3e0"),
    3: ("dense vegetation", "#1b7a2e"),
    4: ("built-up", "#d7301f"),
    5: ("grass / bare soil", "#e6c86e"),
}

SEA, WATER, VEG, BUILT, SOIL = 1, 2, 3, 4, 5

# (class_id, column, row) -- pixel indices of L7_ETMs.tif.
POINTS = [
    # --- 1 sea -------------------------------------------------------------------
    # open Atlantic off Olinda, outside the dark near-shore band and breakwaters
    (SEA, 346, 65), (SEA, 346, 82), (SEA, 345, 100), (SEA, 346, 115),
    # open sea east of the reef line off Olinda / Casa Caiada
    (SEA, 334, 128), (SEA, 346, 146), (SEA, 336, 158), (SEA, 346, 172),
    (SEA, 334, 188), (SEA, 344, 200), (SEA, 328, 214), (SEA, 334, 226),
    # calm water between the beach and the reef line
    (SEA, 308, 152), (SEA, 308, 196),
    # open sea off the Recife-Olinda isthmus, away from the reef patches
    (SEA, 300, 245), (SEA, 322, 247), (SEA, 296, 266), (SEA, 318, 262),
    (SEA, 285, 300), (SEA, 262, 302), (SEA, 252, 322), (SEA, 246, 341),
    (SEA, 268, 338), (SEA, 290, 325), (SEA, 302, 347), (SEA, 320, 330),
    (SEA, 342, 318), (SEA, 322, 300), (SEA, 343, 292), (SEA, 310, 318),
    (SEA, 338, 345), (SEA, 276, 318), (SEA, 326, 350), (SEA, 346, 130),
    # --- 2 inland water ------------------------------------------------------------
    # small pond north of the Beberibe mouth
    (WATER, 220, 272), (WATER, 219, 276),
    # tidal channel behind the isthmus beach (Beberibe estuary)
    (WATER, 214, 310), (WATER, 209, 316), (WATER, 205, 322), (WATER, 203, 328),
    (WATER, 202, 334), (WATER, 199, 340), (WATER, 197, 343), (WATER, 193, 346),
    # estuary basin at the southern edge of the scene
    (WATER, 190, 343), (WATER, 191, 349),
    # Beberibe river, lower course
    (WATER, 177, 275), (WATER, 190, 280), (WATER, 196, 282),
    # side channel west of the isthmus mangrove
    (WATER, 188, 326),
    # river mouth through the beach in the north-east corner
    (WATER, 334, 34), (WATER, 329, 31),
    # --- 3 dense vegetation --------------------------------------------------------
    # large forest block in the north-west
    (VEG, 30, 20), (VEG, 40, 32), (VEG, 26, 42), (VEG, 45, 48), (VEG, 36, 56),
    (VEG, 12, 30), (VEG, 8, 92), (VEG, 100, 100), (VEG, 112, 90), (VEG, 105, 58),
    (VEG, 117, 28),
    # forest on the hills north of the Beberibe
    (VEG, 128, 50), (VEG, 145, 62), (VEG, 143, 87), (VEG, 125, 100), (VEG, 150, 110),
    (VEG, 181, 56), (VEG, 222, 15), (VEG, 225, 95),
    (VEG, 135, 125), (VEG, 170, 150), (VEG, 200, 140), (VEG, 125, 158), (VEG, 204, 113),
    (VEG, 180, 135), (VEG, 150, 140),
    # woods and tree-covered parks inside Recife and Olinda
    (VEG, 207, 195), (VEG, 220, 199), (VEG, 12, 183), (VEG, 20, 191), (VEG, 25, 184),
    (VEG, 45, 163), (VEG, 85, 135), (VEG, 87, 248), (VEG, 16, 313), (VEG, 63, 322),
    (VEG, 263, 130), (VEG, 258, 216), (VEG, 273, 222), (VEG, 258, 242), (VEG, 226, 256),
    # mangrove / swamp forest along the river in the north-east corner
    (VEG, 283, 6), (VEG, 297, 20), (VEG, 305, 32), (VEG, 318, 8), (VEG, 237, 8),
    (VEG, 236, 82),
    # mangrove of the Beberibe estuary and the isthmus
    (VEG, 189, 274), (VEG, 198, 278), (VEG, 203, 310), (VEG, 199, 322),
    # --- 4 built-up ----------------------------------------------------------------
    # Olinda / Casa Caiada
    (BUILT, 260, 45), (BUILT, 270, 52), (BUILT, 300, 60), (BUILT, 275, 65),
    (BUILT, 290, 80), (BUILT, 310, 75), (BUILT, 280, 100), (BUILT, 305, 105),
    (BUILT, 255, 25),
    (BUILT, 285, 160), (BUILT, 267, 186), (BUILT, 290, 195), (BUILT, 260, 200),
    (BUILT, 280, 215), (BUILT, 245, 175), (BUILT, 282, 150), (BUILT, 236, 156),
    # Recife north
    (BUILT, 130, 240), (BUILT, 160, 245), (BUILT, 200, 250), (BUILT, 125, 310),
    (BUILT, 150, 300), (BUILT, 140, 330), (BUILT, 170, 300),
    (BUILT, 60, 300), (BUILT, 86, 306), (BUILT, 100, 280), (BUILT, 110, 320),
    (BUILT, 80, 335),
    (BUILT, 175, 218), (BUILT, 196, 226), (BUILT, 215, 160), (BUILT, 198, 178),
    (BUILT, 96, 202), (BUILT, 100, 225), (BUILT, 75, 205),
    (BUILT, 165, 15), (BUILT, 210, 5), (BUILT, 60, 8), (BUILT, 80, 8), (BUILT, 99, 21),
    (BUILT, 100, 40), (BUILT, 160, 24), (BUILT, 320, 62), (BUILT, 300, 92),
    (BUILT, 290, 130), (BUILT, 105, 345), (BUILT, 118, 255),
    # Olinda, southern districts towards the isthmus
    (BUILT, 236, 214), (BUILT, 262, 258), (BUILT, 280, 230),
    # --- 5 grass / bare soil -------------------------------------------------------
    # large cleared (dumped / earth-moved) ground beside the main road, north of the forest
    (SOIL, 180, 84), (SOIL, 186, 81), (SOIL, 184, 90), (SOIL, 178, 91), (SOIL, 190, 93),
    (SOIL, 182, 98), (SOIL, 189, 101), (SOIL, 186, 86),
    # bright bare earth east of it
    (SOIL, 203, 72), (SOIL, 209, 71),
    # bare sand / earth patches in Olinda
    (SOIL, 248, 105), (SOIL, 249, 112), (SOIL, 246, 101), (SOIL, 251, 150),
    # clearings and bare plots
    (SOIL, 25, 174), (SOIL, 117, 73), (SOIL, 148, 190), (SOIL, 129, 178),
    # open ground on the Beberibe flood plain
    (SOIL, 145, 271), (SOIL, 150, 275),
    # bare plot in southern Olinda
    (SOIL, 243, 227),
    # beach sand of the Recife-Olinda isthmus (widest stretch)
    (SOIL, 207, 331), (SOIL, 205, 336), (SOIL, 204, 342), (SOIL, 203, 347),
    # sand spit on the Olinda shore
    (SOIL, 304, 173),
]


def pixel_centre(col, row):
    """Map coordinates (EPSG:31985) of the centre of pixel (col, row)."""
    return X0 + (col + 0.5) * PIXEL, Y0 - (row + 0.5) * PIXEL


def check_table(points=POINTS, min_dist=3.0):
    """Raise ValueError on unknown classes, off-image pixels or points closer than min_dist pixels."""
    for cid, col, row in points:
        if cid not in CLASSES:
            raise ValueError("unknown class %r" % (cid,))
        if not (0 <= col < N_COLS and 0 <= row < N_ROWS):
            raise ValueError("pixel (%d, %d) is outside the image" % (col, row))
    for i, (_, c1, r1) in enumerate(points):
        for _, c2, r2 in points[i + 1:]:
            if ((c1 - c2) ** 2 + (r1 - r2) ** 2) ** 0.5 < min_dist:
                raise ValueError("points (%d, %d) and (%d, %d) are closer than %.1f px"
                                 % (c1, r1, c2, r2, min_dist))


def remove_gpkg(path):
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def write_gpkg(path=OUT_PATH, points=POINTS):
    from osgeo import ogr, osr
    ogr.UseExceptions()
    osr.UseExceptions()
    remove_gpkg(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer(LAYER_NAME, srs, ogr.wkbPoint, options=["FID=fid"])
    layer.CreateField(ogr.FieldDefn("class_id", ogr.OFTInteger))
    name_field = ogr.FieldDefn("class_name", ogr.OFTString)
    name_field.SetWidth(32)
    layer.CreateField(name_field)
    layer.StartTransaction()
    for cid, col, row in points:
        feat = ogr.Feature(layer.GetLayerDefn())
        feat.SetField("class_id", cid)
        feat.SetField("class_name", CLASSES[cid][0])
        x, y = pixel_centre(col, row)
        geom = ogr.Geometry(ogr.wkbPoint)
        geom.AddPoint_2D(x, y)
        feat.SetGeometry(geom)
        layer.CreateFeature(feat)
    layer.CommitTransaction()
    ds = None


def save_default_style(path=OUT_PATH):
    """Store a categorized (class_id) QGIS style as the layer's default in the GeoPackage."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import (QgsApplication, QgsCategorizedSymbolRenderer, QgsMarkerSymbol,
                           QgsRendererCategory, QgsVectorLayer)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        uri = "%s|layername=%s" % (path, LAYER_NAME)
        layer = QgsVectorLayer(uri, LAYER_NAME, "ogr")
        if not layer.isValid():
            raise RuntimeError("QGIS cannot open %s" % uri)
        categories = []
        for cid, (name, colour) in sorted(CLASSES.items()):
            symbol = QgsMarkerSymbol.createSimple({
                "name": "circle", "color": colour, "outline_color": "#ffffff",
                "outline_width": "0.2", "size": "2.6"})
            categories.append(QgsRendererCategory(cid, symbol, name))
        layer.setRenderer(QgsCategorizedSymbolRenderer("class_id", categories))
        err = layer.saveStyleToDatabase(LAYER_NAME, "class colours", True, "")
        if err:
            raise RuntimeError("saveStyleToDatabase failed: %s" % err)
        del layer
        # Reopen and confirm that QGIS loads the stored default style.
        check = QgsVectorLayer(uri, LAYER_NAME, "ogr")
        renderer = check.renderer()
        if renderer.type() != "categorizedSymbol" or len(renderer.categories()) != len(CLASSES):
            raise RuntimeError("default style was not restored (renderer %s)" % renderer.type())
        n = check.featureCount()
        del check
        return n
    finally:
        app.exitQgis()


def main():
    check_table()
    write_gpkg()
    n = save_default_style()
    counts = {}
    for cid, _, _ in POINTS:
        counts[cid] = counts.get(cid, 0) + 1
    print("wrote %s: %d points" % (OUT_PATH, n))
    for cid, (name, _) in sorted(CLASSES.items()):
        print("  %d %-18s %d" % (cid, name, counts.get(cid, 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
