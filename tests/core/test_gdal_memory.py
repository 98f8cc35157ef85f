"""core/io/gdal_memory.py: GDAL's block cache is bounded during a job and restored afterwards."""

from osgeo import gdal

from multimodal_siamese.core.io.gdal_memory import cache_mb_for, limited_block_cache

MB = 1024 * 1024


def test_cache_is_limited_inside_and_restored_after():
    before = gdal.GetCacheMax()
    with limited_block_cache(100):
        assert gdal.GetCacheMax() == 100 * MB
        with limited_block_cache(64):  # a second, concurrent job: the smaller limit holds
            assert gdal.GetCacheMax() == 64 * MB
        assert gdal.GetCacheMax() == 100 * MB
    assert gdal.GetCacheMax() == before


def test_cache_is_restored_when_the_job_fails():
    before = gdal.GetCacheMax()
    try:
        with limited_block_cache(64):
            raise RuntimeError("job failed")
    except RuntimeError:
        pass
    assert gdal.GetCacheMax() == before


def test_limit_never_raises_the_cache_and_follows_the_budget():
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(32 * MB)
    try:
        with limited_block_cache(256):
            assert gdal.GetCacheMax() == 32 * MB
    finally:
        gdal.SetCacheMax(before)
    assert cache_mb_for(1024) == 256 and cache_mb_for(100) == 64 and cache_mb_for(8192) == 512
