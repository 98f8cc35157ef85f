"""Reading the analyst's data: rasters aligned on one grid, labels, patches and blocks, the scene within a memory budget, GDAL's cache."""
