"""QGIS-free core: raster alignment, labels, patches, blocks, training loops, metrics, reports.

Nothing in this package imports QGIS; the Processing algorithms are thin adapters over it.
"""
