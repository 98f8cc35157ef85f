"""Block-wise dense classification equals per-patch inference; outputs are atomic and styled."""

import os

import numpy as np
import pytest
import rasterio
import torch

from multimodal_siamese.core.learn import finetune, predict
from multimodal_siamese.core.io import inputs, raster
from multimodal_siamese.core.errors import Cancelled
from multimodal_siamese.core.io.labels import ClassInfo
from multimodal_siamese.core.progress import Progress
from multimodal_siamese.models.network import FusionClassifier, MultimodalSiamese, SpectralFusionClassifier

CLASSES = [ClassInfo(1, 1, "roof", "#ff0000"), ClassInfo(2, 2, "tree & <park>", "#00ff00"),
           ClassInfo(3, 3, "water", "#0000ff")]


def random_model(prepared, patch_size=7, classifier="network"):
    """eq. (3)'s g ('network'), or g with a random spectral path ('ensemble', 'linear')."""
    torch.manual_seed(0)
    bands = prepared.stack.band_counts
    if classifier == "network":
        model = FusionClassifier(bands, patch_size, len(CLASSES), dim=64)
    else:
        k, n_z, n_bands = 5, len(bands) * 64, 2 * sum(bands)  # centre ‖ patch mean ‖ 5 PCs of z
        model = SpectralFusionClassifier(bands, patch_size, len(CLASSES), dim=64, classifier=classifier,
                                         band_context=True, z_components=k)
        model.set_spectral_path({"band_mean": torch.randn(n_bands), "band_scale": torch.rand(n_bands) + 0.5,
                                 "z_mean": torch.randn(n_z), "z_projection": torch.randn(k, n_z) * 0.1,
                                 "weight": torch.randn(len(CLASSES), n_bands + k),
                                 "bias": torch.randn(len(CLASSES))},
                                MultimodalSiamese(bands, patch_size, dim=64))
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("classifier", ["network", "ensemble", "linear"])
def test_dense_blocks_equal_per_patch_predictions_everywhere(tahoe, tmp_path, classifier):
    model = random_model(tahoe, classifier=classifier)
    output = str(tmp_path / "map.tif")
    confidence = str(tmp_path / "confidence.tif")
    # A tiny memory budget forces many blocks, so block edges and raster borders are both exercised.
    summary = predict.classify_raster(model, tahoe, CLASSES, output, confidence, memory_mb=2)
    assert summary["blocks"] > 4
    arrays, valid = tahoe.read()
    rows, cols = np.nonzero(valid)
    index, probabilities = finetune.predict_samples(model, arrays, rows, cols, batch_size=4096)
    with rasterio.open(output) as out, rasterio.open(confidence) as conf:
        codes = out.read(1)
        conf_values = conf.read(1)
        assert out.colormap(1)[3][:3] == (0, 0, 255)
    expected = np.array([c.code for c in CLASSES])[index]
    assert (codes[rows, cols] == expected).all()
    assert np.abs(conf_values[rows, cols] - probabilities.max(1)).max() <= 1e-5
    assert (codes[~valid] == summary["nodata"]).all()
    style = open(str(tmp_path / "map.qml"), encoding="utf-8").read()
    assert 'label="tree &amp; &lt;park&gt;"' in style and 'color="#0000ff"' in style


@pytest.mark.parametrize("classifier", ["network", "ensemble"])
def test_folded_head_equals_full_dense_logits_on_real_data(tahoe, classifier):
    """The folded 1x1 head gives the same logits as the full dim-channel path (≤ 1e-4)."""
    model = random_model(tahoe, classifier=classifier)
    arrays, _ = tahoe.read((100, 120, 60, 70))
    inputs = [torch.from_numpy(a)[None] for a in arrays]
    with torch.no_grad():
        full = model.forward_dense(inputs)
        folded = model.forward_dense_folded(inputs)
        fast = model.inference_copy().forward_dense_folded(
            [x.contiguous(memory_format=torch.channels_last) for x in inputs], model.folded_head())
    assert full.shape == folded.shape == fast.shape
    assert (full - folded).abs().max() <= 1e-4
    assert (full - fast).abs().max() <= 1e-4


def test_cancel_leaves_existing_output_untouched(tahoe, tmp_path):
    model = random_model(tahoe)
    output = tmp_path / "map.tif"
    output.write_bytes(b"an earlier map")

    class CancelAtSecondBlock(Progress):
        def set_percent(self, percent):
            super().set_percent(percent)
            self.cancel_requested = True

    with pytest.raises(Cancelled):
        predict.classify_raster(model, tahoe, CLASSES, str(output), memory_mb=2,
                                progress=CancelAtSecondBlock())
    assert output.read_bytes() == b"an earlier map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


def test_nodata_code_moves_to_255_when_a_class_uses_zero():
    assert predict.nodata_code(CLASSES) == 0
    assert predict.nodata_code([ClassInfo(0, 0, "zero", "#000000")] + CLASSES) == 255


def test_block_size_follows_memory_budget():
    small = predict.block_size_for(64, 256, 240, 13)
    large = predict.block_size_for(2048, 256, 240, 13)
    assert 16 <= small < large <= 1024


def test_cancel_during_the_last_block_publishes_nothing(tahoe, tmp_path):
    model = random_model(tahoe)

    class CancelAtTheEnd(Progress):
        def set_percent(self, percent):
            super().set_percent(percent)
            self.cancel_requested = percent >= 100

    with pytest.raises(Cancelled):
        predict.classify_raster(model, tahoe, CLASSES, str(tmp_path / "map.tif"),
                                str(tmp_path / "confidence.tif"), memory_mb=16, progress=CancelAtTheEnd())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("classifier", ["network", "ensemble"])
def test_dense_logits_equal_per_patch_logits_on_every_pixel(data_dir, classifier):
    """The fast dense path vs a 13×13 per-patch forward at every pixel of a real window that
    touches the raster edge (reflect border) and holds nodata pixels: |Δlogit| ≤ 1e-4."""
    from multimodal_siamese.core.io.patches import pad_reflect
    from multimodal_siamese.core.learn.pretraining import PatchSource

    d = os.path.join(data_dir, "potsdam")
    potsdam = inputs.prepare([raster.ModalityInput("HYPERSPECTRAL", os.path.join(d, "enmap_potsdam_vnir.vrt")),
                              raster.ModalityInput("MULTISPECTRAL", os.path.join(d, "enmap_potsdam_swir.vrt"))],
                             inputs.GridOptions())
    model = random_model(potsdam, patch_size=13, classifier=classifier)
    arrays, valid = potsdam.read()
    potsdam.close()
    window = (slice(40, 100), slice(80, 160))  # reaches the right edge and a nodata tile
    assert valid[window].any() and not valid[window].all()
    with torch.no_grad():
        padded = [torch.from_numpy(pad_reflect(a, 6, 6, 6, 6))[None].contiguous(memory_format=torch.channels_last)
                  for a in arrays]
        dense = model.inference_copy().forward_dense_folded(padded, model.folded_head())[0]
        rows, cols = np.mgrid[window]
        rows, cols = rows.ravel(), cols.ravel()
        per_patch = model(PatchSource(arrays, 13).batch(rows, cols, "cpu"))
    dense_at = dense[:, rows, cols].T
    assert (dense_at - per_patch).abs().max() <= 1e-4
