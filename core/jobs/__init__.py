"""The whole jobs, one per algorithm (QGIS-free): inputs in, files out, progress and cancel through core.progress."""
