"""Bound GDAL's block cache while a job runs.

GDAL caches raster blocks up to GDAL_CACHEMAX, by default 5 % of the machine's RAM (1.2 GB on a
24 GB machine): a classification that reads a large scene block by block fills it, and the
process's peak memory grows with the scene (1.98 GB at 1024², 2.78 GB at 2048² through
qgis_process) although the job itself is bounded by MEMORY_MB. The cache is process-wide (QGIS
shares it), so it is lowered for the duration of a job only and restored afterwards; concurrent
jobs share one limit (the smallest asked for) and the last one to finish restores it.
"""

from __future__ import annotations

import contextlib
import threading

from osgeo import gdal

_lock = threading.Lock()
_active: list = []      # limits (bytes) of the running jobs
_saved: list = []       # the cache maximum before the first of them


def cache_mb_for(memory_mb: float) -> int:
    """A quarter of the job's budget, between 64 and 512 MB: enough for the source tiles of one
    read window of a many-band scene (a 256² tile of 224 int16 bands is 29 MB), so blocks are not
    read twice."""
    return int(max(64, min(512, memory_mb / 4)))


@contextlib.contextmanager
def limited_block_cache(cache_mb: float):
    """GDAL's block cache holds at most ``cache_mb`` MB inside the ``with`` block (never raised
    above what it was)."""
    limit = int(cache_mb * 1024 * 1024)
    with _lock:
        if not _active:
            _saved[:] = [gdal.GetCacheMax()]
        _active.append(limit)
        gdal.SetCacheMax(min(min(_active), _saved[0]))
    try:
        yield
    finally:
        with _lock:
            _active.remove(limit)
            gdal.SetCacheMax(min(min(_active), _saved[0]) if _active else _saved[0])


def job_block_cache(memory_mb: float):
    """The block cache of a job with this MEMORY_MB budget (every mmsiam job reads its rasters
    inside one): ``limited_block_cache(cache_mb_for(memory_mb))``."""
    return limited_block_cache(cache_mb_for(memory_mb))
