"""Labelled samples from a point or polygon layer, on the reference grid.

* Points → the pixel they fall in. Polygons → every pixel whose centre lies inside.
* Dropped and counted per class: outside the grid, on an invalid pixel, and pixels claimed by
  two different classes (conflict). Features with an empty (NULL / blank) class are counted.
* Class table: integer class values keep their value as raster code (1..254); text values get
  codes 1..K in sorted order. Names and colours come from the layer's categorized renderer when
  the caller passes them, else from the values; colours then from the names (core/output/colors.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, ogr, osr
from rasterio import features as rio_features

from ..errors import InputError
from ..output.colors import class_colors
from .raster import Grid, apply_affine

ogr.UseExceptions()
osr.UseExceptions()



@dataclass
class LabelFeatures:
    """Geometries (WKB) with their class values, in the CRS ``crs_wkt``."""

    wkbs: list
    values: list
    crs_wkt: str
    layer_name: str = "labels"
    field_name: str = "class"


@dataclass
class ClassInfo:
    code: int       # value written in the classified raster
    value: object   # value in the label layer (int or str)
    name: str
    color: str      # '#rrggbb'

    def to_dict(self) -> dict:
        return {"code": self.code, "value": self.value, "name": self.name, "color": self.color}

    @classmethod
    def from_dict(cls, d: dict) -> "ClassInfo":
        return cls(int(d["code"]), d["value"], d["name"], d["color"])


@dataclass
class LabelSamples:
    rows: np.ndarray
    cols: np.ndarray
    class_index: np.ndarray          # 0..K-1 into ``classes``
    classes: list                    # ClassInfo, sorted by code
    dropped: dict = field(default_factory=dict)  # class name → {reason: count}
    empty_class_features: int = 0
    geometry_kind: str = "point"     # 'point' or 'polygon'

    def used_per_class(self) -> dict:
        counts = np.bincount(self.class_index, minlength=len(self.classes))
        return {c.name: int(n) for c, n in zip(self.classes, counts)}


@dataclass
class FieldSummary:
    """What guess_class_field needs to know of a field of the label layer."""

    name: str
    numeric: bool
    integer: bool
    distinct: int        # distinct non-empty values (may be capped)
    features: int


CLASS_FIELD_WORDS = ("class", "klasse", "classe", "clase", "label", "type", "typ", "tipo", "landuse",
                     "land_use", "landcover", "land_cover", "cover", "lulc", "species", "category",
                     "categoria", "kategorie", "nutzung", "uso", "cobertura", "level", "name", "nome",
                     "nombre")
IDENTIFIER_FIELDS = {"fid", "id", "ogc_fid", "objectid", "object_id", "gid", "oid", "uid", "pk", "rowid"}


def guess_class_field(fields: list) -> str | None:
    """The field of a label layer that most likely holds the class (``fields``: FieldSummary).

    Candidates hold text or whole numbers with 2..254 distinct values, not one per feature (an
    identifier), and are not named like an identifier (fid, id, …). Among them, the first named
    like a class (class, label, type, landuse, species, …; text before numbers: it names the
    classes), else the first text field; None when nothing fits."""
    def plausible(f):
        unique_per_feature = f.distinct >= f.features and f.features > 2
        return ((not f.numeric or f.integer) and 2 <= f.distinct <= 254 and not unique_per_feature
                and f.name.lower() not in IDENTIFIER_FIELDS)

    def word_rank(f):
        lowered = f.name.lower()
        ranks = [i for i, word in enumerate(CLASS_FIELD_WORDS) if word in lowered]
        return min(ranks) if ranks else None

    candidates = [f for f in fields if plausible(f)]
    named = [f for f in candidates if word_rank(f) is not None]
    if named:
        return min(named, key=lambda f: (word_rank(f), f.numeric)).name
    text = [f for f in candidates if not f.numeric]
    return text[0].name if text else None


def require_plausible_classes(samples: "LabelSamples", features: LabelFeatures):
    """Refuse a class field that makes most classes a single sample (e.g. an identifier)."""
    counts = np.bincount(samples.class_index, minlength=len(samples.classes))
    per_feature = {}
    for value in features.values:
        value = _clean_value(value)
        if value is not None:
            per_feature[str(value)] = per_feature.get(str(value), 0) + 1
    tiny = [c for c, n in zip(samples.classes, counts)
            if max(int(n), per_feature.get(str(c.value), 0)) < 2]
    if len(samples.classes) >= 3 and len(tiny) > len(samples.classes) / 2:
        raise InputError(
            f"The class field '{features.field_name}' of '{features.layer_name}' gives "
            f"{len(samples.classes)} classes, {len(tiny)} of them with fewer than 2 samples: is "
            "CLASS_FIELD right? Choose the field that holds each label's land-cover class.")


def _unreadable_labels(path: str, reason: str) -> str:
    """One sentence for a label file OGR cannot open."""
    if not os.path.exists(path):
        return (f"The label file '{path}' does not exist. Choose an existing point or polygon "
                "layer (GeoPackage, shapefile, ...).")
    detail = f" ({reason.strip().rstrip('.')})" if reason.strip() else ""
    return (f"The label file '{path}' could not be opened as a vector layer{detail}. Give a point "
            "or polygon layer in a format GDAL reads (GeoPackage, shapefile, ...).")


def read_label_features(path: str, class_field: str, layer_name: str | None = None) -> LabelFeatures:
    """Read a vector file with OGR (the QGIS adapter builds LabelFeatures from the layer itself)."""
    try:
        dataset = ogr.Open(path)
    except RuntimeError as exc:  # recent GDAL raises here; older GDAL (3.6) returns None
        raise InputError(_unreadable_labels(path, str(exc))) from None
    if dataset is None:
        raise InputError(_unreadable_labels(path, gdal.GetLastErrorMsg()))
    # Keep ``dataset`` referenced while the layer is in use (GDAL crashes otherwise).
    layer = dataset.GetLayerByName(layer_name) if layer_name else dataset.GetLayer(0)
    if layer is None:
        if not layer_name:
            raise InputError(f"The label file '{path}' holds no vector layer. Give a point or "
                             "polygon layer with a class field.")
        raise InputError(f"The label file '{path}' has no layer '{layer_name}'.")
    definition = layer.GetLayerDefn()
    if definition.GetFieldIndex(class_field) < 0:
        fields = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
        raise InputError(f"The label layer '{layer.GetName()}' has no field '{class_field}'. "
                         f"Its fields are: {', '.join(fields)}.")
    srs = layer.GetSpatialRef()
    wkbs, values = [], []
    for feature in layer:
        geometry = feature.GetGeometryRef()
        wkbs.append(None if geometry is None else bytes(geometry.ExportToWkb()))
        values.append(feature.GetField(class_field) if feature.IsFieldSetAndNotNull(class_field) else None)
    crs_wkt = srs.ExportToWkt() if srs is not None else ""
    result = LabelFeatures(wkbs, values, crs_wkt, layer.GetName(), class_field)
    del layer, dataset
    return result


def _clean_value(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    return value


def build_class_table(values: list, names: dict | None = None, colors: dict | None = None) -> list:
    """Distinct non-empty class values → ClassInfo list sorted by code."""
    distinct = sorted({v for v in map(_clean_value, values) if v is not None},
                      key=lambda v: (str(type(v)), v))
    if not distinct:
        raise InputError("The class field is empty for every label feature. Choose the field that "
                         "holds the class of each point or polygon.")
    names, colors = names or {}, colors or {}
    is_integer = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in distinct)
    if is_integer:
        bad = [v for v in distinct if not 1 <= int(v) <= 254]
        if bad:
            raise InputError(f"Integer class values must be between 1 and 254 to be written as raster "
                             f"codes; found {bad[:5]}. Recode the classes (e.g. with the Field "
                             "Calculator) or use a text class field.")
        codes = [int(v) for v in distinct]
    else:
        if len(distinct) > 254:
            raise InputError(f"The class field has {len(distinct)} distinct values; at most 254 "
                             "classes are supported. Did you choose an identifier field?")
        distinct = sorted(distinct, key=str)
        codes = list(range(1, len(distinct) + 1))
    class_names = [names.get(str(value), str(value)) for value in distinct]
    by_name = class_colors(class_names)
    return [ClassInfo(code, value if is_integer else str(value), name, colors.get(str(value), color))
            for code, value, name, color in zip(codes, distinct, class_names, by_name)]


def _transformer(features: LabelFeatures, grid: Grid):
    if not features.crs_wkt:
        return None  # assume the grid CRS
    source = osr.SpatialReference()
    source.ImportFromWkt(features.crs_wkt)
    target = osr.SpatialReference()
    target.ImportFromWkt(grid.crs_wkt)
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if source.IsSame(target):
        return None
    return osr.CoordinateTransformation(source, target)


def rasterize_labels(features: LabelFeatures, grid: Grid, valid: np.ndarray,
                     names: dict | None = None, colors: dict | None = None,
                     classes: list | None = None) -> LabelSamples:
    """Label features → pixel samples on ``grid``, dropping and counting what cannot be used.

    With ``classes`` (e.g. a trained model's table) values outside it are refused."""
    values = [_clean_value(v) for v in features.values]
    if not values:
        raise InputError(f"The label layer '{features.layer_name}' has no feature. Choose a layer "
                         "with labelled points or polygons.")
    if all(v is None for v in values):
        raise InputError(f"The class field '{features.field_name}' of the label layer "
                         f"'{features.layer_name}' is empty (NULL or blank) for all {len(values)} "
                         "features. Choose the field that holds each point's or polygon's class, or "
                         "fill it in (e.g. with the Field Calculator).")
    if classes is None:
        classes = build_class_table(values, names, colors)
    index_of = {str(c.value): i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in values if v is not None and str(v) not in index_of})
    if unknown:
        raise InputError(f"The layer '{features.layer_name}' has class values that the model does "
                         f"not know: {', '.join(unknown[:10])}. Known classes: "
                         f"{', '.join(str(c.value) for c in classes)}.")
    transform = _transformer(features, grid)
    inverse = ~grid.affine
    label_map = np.full((grid.height, grid.width), -1, dtype=np.int32)  # -1 none, -2 conflict
    dropped = {c.name: {"outside_extent": 0, "invalid_pixel": 0, "conflict": 0} for c in classes}
    empty = 0
    kinds = set()
    per_class_shapes = {i: [] for i in range(len(classes))}
    for wkb, value in zip(features.wkbs, values):
        if value is None or wkb is None:
            empty += 1
            continue
        k = index_of[str(value)]
        geometry = ogr.CreateGeometryFromWkb(wkb)
        if transform is not None:
            geometry.Transform(transform)
        flat_type = ogr.GT_Flatten(geometry.GetGeometryType())
        if flat_type in (ogr.wkbPoint, ogr.wkbMultiPoint):
            kinds.add("point")
            points = [geometry] if flat_type == ogr.wkbPoint else \
                [geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())]
            for point in points:
                col, row = apply_affine(inverse, point.GetX(), point.GetY())
                row, col = int(np.floor(row)), int(np.floor(col))
                if not (0 <= row < grid.height and 0 <= col < grid.width):
                    dropped[classes[k].name]["outside_extent"] += 1
                    continue
                current = label_map[row, col]
                if current == -1 or current == k:
                    label_map[row, col] = k
                else:
                    if current >= 0:
                        dropped[classes[current].name]["conflict"] += 1
                    dropped[classes[k].name]["conflict"] += 1
                    label_map[row, col] = -2
        elif flat_type in (ogr.wkbPolygon, ogr.wkbMultiPolygon):
            kinds.add("polygon")
            minx, maxx, miny, maxy = geometry.GetEnvelope()
            gxmin, gymin, gxmax, gymax = grid.bounds
            if maxx <= gxmin or minx >= gxmax or maxy <= gymin or miny >= gymax:
                dropped[classes[k].name]["outside_extent"] += 1  # counted in features
                continue
            per_class_shapes[k].append(json.loads(geometry.ExportToJson()))
        else:
            raise InputError(f"The label layer '{features.layer_name}' has a geometry of type "
                             f"{geometry.GetGeometryName()}; use points or polygons.")
    if len(kinds) > 1:
        raise InputError(f"The label layer '{features.layer_name}' mixes points and polygons; use "
                         "one geometry type.")
    for k, shapes in per_class_shapes.items():
        if not shapes:
            continue
        # Pixel centres inside the polygons (all_touched=False is GDAL's centre rule).
        inside = rio_features.rasterize(((s, 1) for s in shapes), out_shape=label_map.shape,
                                        transform=grid.affine, fill=0, dtype="uint8",
                                        all_touched=False).astype(bool)
        free = inside & ((label_map == -1) | (label_map == k))
        clash = inside & ~free
        for other in np.unique(label_map[clash & (label_map >= 0)]):
            n = int((clash & (label_map == other)).sum())
            dropped[classes[other].name]["conflict"] += n
        dropped[classes[k].name]["conflict"] += int(clash.sum())
        label_map[free] = k
        label_map[clash] = -2
    labelled = label_map >= 0
    for k, c in enumerate(classes):
        dropped[c.name]["invalid_pixel"] = int(((label_map == k) & ~valid).sum())
    rows, cols = np.nonzero(labelled & valid)
    return LabelSamples(rows.astype(np.int64), cols.astype(np.int64),
                        label_map[rows, cols].astype(np.int64), classes, dropped, empty,
                        "polygon" if "polygon" in kinds else "point")


def polygon_mask(features: LabelFeatures, grid: Grid, what: str = "MASK") -> np.ndarray:
    """Pixels of ``grid`` whose centre lies inside any polygon of ``features`` (any CRS)."""
    transform = _transformer(features, grid)
    shapes = []
    for wkb in features.wkbs:
        if wkb is None:
            continue
        geometry = ogr.CreateGeometryFromWkb(wkb)
        if ogr.GT_Flatten(geometry.GetGeometryType()) not in (ogr.wkbPolygon, ogr.wkbMultiPolygon):
            raise InputError(f"The {what} layer '{features.layer_name}' has a geometry of type "
                             f"{geometry.GetGeometryName()}; use a polygon layer.")
        if transform is not None:
            geometry.Transform(transform)
        shapes.append(json.loads(geometry.ExportToJson()))
    if not shapes:
        return np.zeros((grid.height, grid.width), dtype=bool)
    return rio_features.rasterize(((s, 1) for s in shapes), out_shape=(grid.height, grid.width),
                                  transform=grid.affine, fill=0, dtype="uint8",
                                  all_touched=False).astype(bool)
