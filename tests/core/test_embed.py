"""The embedding: dense block-wise components equal the per-patch z followed by the stored PCA."""

import numpy as np
import pytest
import rasterio
import torch

from multimodal_siamese.core.jobs import embed_run
from multimodal_siamese.core.learn.embedding import Embedder, read_pca
from multimodal_siamese.core.errors import Cancelled, InputError
from multimodal_siamese.core.learn.pretraining import PatchSource
from multimodal_siamese.core.progress import Progress
from multimodal_siamese.models.network import FusionClassifier, MultimodalSiamese


def with_running_stats(model):
    torch.manual_seed(0)
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def models(prepared):
    torch.manual_seed(0)
    return {"classifier": with_running_stats(FusionClassifier(prepared.stack.band_counts, 7, 3, dim=64)),
            "pretrained": with_running_stats(MultimodalSiamese(prepared.stack.band_counts, 7, dim=64,
                                                               pred_hidden=16))}


@pytest.mark.parametrize("kind", ["classifier", "pretrained"])
def test_dense_components_equal_per_patch_z_then_stored_pca(tahoe, tmp_path, kind):
    model = models(tahoe)[kind]
    output = str(tmp_path / "embedding.tif")
    # A tiny memory budget forces many blocks: block edges and raster borders are both exercised.
    summary = embed_run.embed_raster(model, kind, tahoe, output, components=6, memory_mb=2,
                                     sample_size=3000)
    assert summary["block_size"] < 200 and summary["components"] == 6
    arrays, valid = tahoe.read()
    rng = np.random.default_rng(3)
    flat = rng.choice(np.flatnonzero(valid.ravel()), 400, replace=False)
    rows, cols = np.divmod(flat, valid.shape[1])
    rows, cols = np.r_[rows, 0, 399, 0], np.r_[cols, 0, 399, 399]  # corners: reflect padding
    with torch.no_grad():
        z = Embedder(model, fused=kind == "classifier").z_patches(
            PatchSource(arrays, 7).batch(rows, cols, "cpu")).double().numpy()
    pca = read_pca(output)
    expected = (z - pca["mean"]) @ pca["components"].T
    with rasterio.open(output) as src:
        values = src.read()
        assert src.descriptions == tuple(f"pc{i}" for i in range(1, 7))
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert "EXPLAINED_VARIANCE_RATIO" in src.tags()
    assert np.abs(values[:, rows, cols].T - expected).max() <= 1e-4
    assert np.isnan(values[:, ~valid]).all() and np.isfinite(values[:, valid]).all()
    ratios = pca["explained_variance_ratio"]
    assert (np.diff(ratios) <= 1e-9).all() and 0 < ratios.sum() <= 1 + 1e-6
    variances = values[:, valid].var(axis=1)  # the first component varies most over the scene
    assert variances[0] == variances.max() and variances[0] > 3 * variances[-1]


def test_zero_components_writes_all_and_warns(tahoe, tmp_path):
    model = models(tahoe)["classifier"]
    progress = Progress()
    summary = embed_run.embed_raster(model, "classifier", tahoe, str(tmp_path / "all.tif"), components=0,
                                     sample_size=2000, progress=progress)
    assert summary["components"] == 64
    assert any("COMPONENTS = 0" in w for w in progress.warnings)
    with pytest.raises(InputError, match="at most 64"):
        embed_run.embed_raster(model, "classifier", tahoe, str(tmp_path / "x.tif"), components=65)
    assert not (tmp_path / "x.tif").exists()


def test_cancel_leaves_no_output(tahoe, tmp_path):
    class CancelInSecondPass(Progress):
        def set_percent(self, percent):
            super().set_percent(percent)
            self.cancel_requested = percent > 50

    with pytest.raises(Cancelled):
        embed_run.embed_raster(models(tahoe)["classifier"], "classifier", tahoe, str(tmp_path / "e.tif"),
                               memory_mb=2, sample_size=500, progress=CancelInSecondPass())
    assert list(tmp_path.iterdir()) == []
