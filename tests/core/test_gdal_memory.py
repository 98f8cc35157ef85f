"""core/io/gdal_memory.py: GDAL's block cache is bounded during a job and restored afterwards."""

import os

from osgeo import gdal

from multimodal_siamese.core.io.gdal_memory import cache_mb_for, limited_block_cache
from multimodal_siamese.core.io.inputs import GridOptions
from multimodal_siamese.core.io.labels import read_label_features
from multimodal_siamese.core.io.raster import ModalityInput
from multimodal_siamese.core.jobs.classifier_run import train_job
from multimodal_siamese.core.jobs.embed_run import embed_with_model
from multimodal_siamese.core.jobs.pretrain_run import pretrain_job
from multimodal_siamese.core.jobs.suggest_run import suggest_with_model
from multimodal_siamese.core.learn.finetune import ClassifierConfig
from multimodal_siamese.core.learn.pretraining import PretrainConfig
from multimodal_siamese.core.progress import Progress

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


class CacheWatch(Progress):
    """Records GDAL's cache maximum whenever the job reports progress."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def set_percent(self, percent):
        self.seen.add(gdal.GetCacheMax())
        super().set_percent(percent)


def test_every_job_that_reads_the_scene_bounds_the_cache_like_classify(data_dir, tmp_path):
    """mmsiam:pretrain, trainclassifier, embed and suggestsites read the scene through GDAL too:
    while their jobs run the cache is held to the job's share of MEMORY_MB, and given back after."""
    d = os.path.join(data_dir, "tahoe")
    modalities = [ModalityInput("MULTISPECTRAL", os.path.join(d, "tahoe_highrez.tif")),
                  ModalityInput("SAR", os.path.join(d, "tahoe_lidar_highesthit.tif"))]
    labels = read_label_features(os.path.join(d, "tahoe_training_points.gpkg"), "SPECIES")
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(1024 * MB)  # a large machine's default (5 % of RAM)
    try:
        pretraining, training = CacheWatch(), CacheWatch()
        pretrain_job(modalities, GridOptions(), PretrainConfig(epochs=1, samples_per_epoch=256, batch_size=64),
                     str(tmp_path / "pre.pt"), None, pretraining, memory_mb=300)
        assert gdal.GetCacheMax() == 1024 * MB
        train_job(modalities, GridOptions(), ClassifierConfig(patch_size=5, epochs=1), str(tmp_path / "m.pt"),
                  None, None, training, 300, labels)
        assert gdal.GetCacheMax() == 1024 * MB
        embedding, suggesting = CacheWatch(), CacheWatch()
        embed_with_model(modalities, str(tmp_path / "pre.pt"), str(tmp_path / "z.tif"), 2, 300, "cpu", 1,
                         embedding)
        assert gdal.GetCacheMax() == 1024 * MB
        suggest_with_model(modalities, str(tmp_path / "m.pt"), str(tmp_path / "sites.gpkg"), 3, "random",
                           0, None, None, 1, 300, "cpu", suggesting)
        assert gdal.GetCacheMax() == 1024 * MB
    finally:
        gdal.SetCacheMax(before)
    assert pretraining.seen == training.seen == embedding.seen == suggesting.seen == {cache_mb_for(300) * MB}
