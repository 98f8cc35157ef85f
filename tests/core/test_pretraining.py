"""Pretraining on real data (Potsdam VNIR + SWIR): learns, does not collapse, is reproducible."""

import os

import numpy as np
import pytest
import torch

from multimodal_siamese.core.learn import pretraining
from multimodal_siamese.core.io import raster
from multimodal_siamese.core.errors import Cancelled, InputError
from multimodal_siamese.core.progress import Progress
from multimodal_siamese.models.losses import is_collapsed


@pytest.fixture(scope="module")
def potsdam_arrays(data_dir):
    d = os.path.join(data_dir, "potsdam")
    with raster.AlignedStack.open([raster.ModalityInput("HYPERSPECTRAL", os.path.join(d, "enmap_potsdam_vnir.vrt")),
                                   raster.ModalityInput("MULTISPECTRAL", os.path.join(d, "enmap_potsdam_swir.vrt"))]) as stack:
        stats, _ = raster.scan(stack)
        return raster.read_normalised(stack, stats)


def small_config(**kw):
    base = dict(epochs=2, samples_per_epoch=384, batch_size=64, seed=3, dim=256, pred_hidden=64)
    base.update(kw)
    return pretraining.PretrainConfig(**base)


def test_short_pretraining_lowers_the_loss_without_collapse(potsdam_arrays):
    arrays, valid = potsdam_arrays
    progress = Progress()
    result = pretraining.pretrain(arrays, valid, small_config(epochs=3), progress)
    assert len(result.loss_history) == 3
    assert result.loss_history[-1] < result.loss_history[0]
    assert -2.0 <= min(result.loss_history)
    assert not result.collapsed
    assert not any(is_collapsed(s, 256) for s in result.zstd_history)
    assert any("epoch 3/3" in m and "loss" in m and "z-std" in m and "ETA" in m for m in progress.messages)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_same_seed_same_loss_history_and_weights(potsdam_arrays, precision):
    arrays, valid = potsdam_arrays
    a = pretraining.pretrain(arrays, valid, small_config(precision=precision))
    b = pretraining.pretrain(arrays, valid, small_config(precision=precision))
    assert a.precision == precision
    assert a.loss_history == b.loss_history
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert bool((x == y).all()), name
        # weights stay float32 and in the ordinary layout whatever the training precision
        assert x.dtype != torch.bfloat16 and (x.dim() != 4 or x.is_contiguous()), name
    c = pretraining.pretrain(arrays, valid, small_config(seed=4, precision=precision))
    assert c.loss_history != a.loss_history


def test_bfloat16_pretraining_learns(potsdam_arrays):
    arrays, valid = potsdam_arrays
    result = pretraining.pretrain(arrays, valid, small_config(epochs=3, precision="bfloat16"))
    assert result.loss_history[-1] < result.loss_history[0]
    assert not result.collapsed


@pytest.mark.parametrize("native, expected", [(True, "bfloat16"), (False, "float32")])
def test_automatic_precision_follows_the_hardware(monkeypatch, native, expected):
    monkeypatch.setattr(pretraining, "cpu_has_native_bfloat16", lambda: native)
    assert pretraining.resolve_precision("auto", "cpu") == expected
    assert pretraining.resolve_precision("float32", "cpu") == "float32"
    with pytest.raises(InputError, match="PRECISION"):
        pretraining.resolve_precision("half", "cpu")


def test_single_modality_uses_two_augmented_views(potsdam_arrays):
    arrays, valid = potsdam_arrays
    result = pretraining.pretrain(arrays[:1], valid, small_config(epochs=1))
    assert np.isfinite(result.loss_history[0]) and -2 <= result.loss_history[0] <= 2


@pytest.mark.parametrize("objective", ["simclr", "clip", "barlow"])
def test_comparator_objectives_run(potsdam_arrays, objective):
    arrays, valid = potsdam_arrays
    result = pretraining.pretrain(arrays, valid, small_config(epochs=1, objective=objective))
    assert np.isfinite(result.loss_history[0]) and result.loss_history[0] > 0


def test_neighbour_positives_train_and_need_simsiam(potsdam_arrays):
    arrays, valid = potsdam_arrays
    result = pretraining.pretrain(arrays, valid, small_config(epochs=1, objective="simsiam", neighbour_positives=True))
    plain = pretraining.pretrain(arrays, valid, small_config(epochs=1, objective="simsiam"))
    assert np.isfinite(result.loss_history[0]) and -2 <= result.loss_history[0] <= 2
    assert result.loss_history[0] != plain.loss_history[0]  # other targets, another loss
    with pytest.raises(InputError, match="simsiam"):
        pretraining.pretrain(arrays, valid, small_config(epochs=1, neighbour_positives=True, objective="clip"))


def test_context_objective_predicts_the_whole_patch_from_its_surroundings(potsdam_arrays, monkeypatch):
    """The context objective: p from the patch with its centre masked, z (the target) from the whole
    patch, always patch by patch (a dense crop cannot mask each pixel's own centre)."""
    from multimodal_siamese.models import augment

    patches = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5) + 1
    masked = augment.mask_centre(patches)
    assert (masked[..., 2, 2] == 0).all() and (patches[..., 2, 2] != 0).all()  # the input is left as it was
    around = np.arange(25) != 12
    assert torch.equal(masked.flatten(2)[..., around], patches.flatten(2)[..., around])
    core = augment.mask_centre(patches, 3)  # the benchmark's wider core: the centre 3 × 3 pixels
    assert (core[..., 1:4, 1:4] == 0).all() and int((core == 0).sum()) == 2 * 3 * 9
    with pytest.raises(InputError, match="odd and smaller than PATCH_SIZE"):
        small_config(objective="context", context_core=5).validate()
    arrays, valid = potsdam_arrays
    calls, mask_centre = [], augment.mask_centre
    monkeypatch.setattr(augment, "mask_centre", lambda x, core=1: calls.append((x.shape, core)) or mask_centre(x, core))
    config = small_config(epochs=3, objective="context")
    progress = Progress()
    result = pretraining.pretrain(arrays, valid, config, progress)
    assert calls and all(shape[-2:] == (5, 5) and core == 1 for shape, core in calls)
    assert result.loss_history[-1] < result.loss_history[0] and -2.0 <= min(result.loss_history)
    assert not result.collapsed
    assert "crops" not in progress.messages[0] and "objective context" in progress.messages[0]
    assert pretraining.config_to_dict(config)["dense"] is False  # the form actually used
    calls.clear()
    pretraining.pretrain(arrays, valid, small_config(epochs=1, objective="simsiam", dense=False), progress)
    assert not calls  # eq. (2) as in the paper masks nothing


def test_reported_settings_leave_out_benchmark_settings_at_their_defaults():
    settings = pretraining.config_to_dict(pretraining.PretrainConfig(seed=7))
    shown = pretraining.reported_settings(settings)
    assert shown["seed"] == 7 and shown["objective"] == "context" and shown["dense"] is False
    assert not set(pretraining.BENCHMARK_SETTINGS) & set(shown)
    changed = pretraining.reported_settings(dict(settings, within_modality=True, objective="barlow"))
    assert changed["within_modality"] is True and changed["barlow_off_diagonal"] == 0.0051
    assert "neighbour_positives" not in changed
    from multimodal_siamese.core.learn import finetune
    training = dict(finetune.config_to_dict(finetune.ClassifierConfig(min_steps=600)), learning_rate_used=1e-4)
    shown = finetune.reported_settings(training)
    assert shown["min_steps"] == 600 and shown["learning_rate_used"] == 1e-4
    assert "freeze_batchnorm" not in shown and "class_balanced" not in shown


def test_cancel_is_honoured_within_one_batch(potsdam_arrays):
    arrays, valid = potsdam_arrays

    class CancelAfterThreeBatches(Progress):
        def set_percent(self, percent):
            super().set_percent(percent)
            self.batches = getattr(self, "batches", 0) + 1
            self.cancel_requested = self.batches >= 3

    progress = CancelAfterThreeBatches()
    with pytest.raises(Cancelled):
        pretraining.pretrain(arrays, valid, small_config(epochs=5), progress)
    assert progress.batches == 3


@pytest.mark.parametrize("bad, message", [
    (dict(patch_size=12), "odd"), (dict(patch_size=1), "odd"), (dict(epochs=0), "EPOCHS"),
    (dict(batch_size=1), "BATCH_SIZE"), (dict(learning_rate=0.0), "LEARNING_RATE"),
    (dict(precision="float16"), "PRECISION"),
])
def test_bad_settings_are_explained(potsdam_arrays, bad, message):
    arrays, valid = potsdam_arrays
    with pytest.raises(InputError, match=message):
        pretraining.pretrain(arrays, valid, small_config(**bad))


def test_dense_crops_give_each_pixel_its_own_patch_z(potsdam_arrays):
    """Dense training computes, for every crop pixel, exactly the per-patch z (eval mode)."""
    import torch

    from multimodal_siamese.models.network import MultimodalSiamese

    arrays, valid = potsdam_arrays
    torch.manual_seed(0)
    model = MultimodalSiamese([a.shape[0] for a in arrays], 13, dim=64, pred_hidden=16).eval()
    crops = pretraining.CropSource(arrays, valid, 13, 6)
    patches = pretraining.PatchSource(arrays, 13)
    anchors_r, anchors_c = np.array([0, 100, 191]), np.array([0, 80, 159])  # corners clip inside
    inputs, mask = crops.batch(anchors_r, anchors_c, "cpu")
    assert inputs[0].shape == (3, 91, 18, 18) and mask.shape == (3, 6, 6)
    with torch.no_grad():
        z_dense, _ = model.predict_positions(model.dense_maps(inputs), torch.ones_like(mask))
        r0 = np.clip(anchors_r - 3, 0, 192 - 6)
        c0 = np.clip(anchors_c - 3, 0, 160 - 6)
        rows = (r0[:, None, None] + np.arange(6)[None, :, None] + 0 * np.arange(6)[None, None, :]).ravel()
        cols = (c0[:, None, None] + 0 * np.arange(6)[None, :, None] + np.arange(6)[None, None, :]).ravel()
        z_patch, _ = model(patches.batch(rows, cols, "cpu"))
    for zd, zp in zip(z_dense, z_patch):
        assert torch.allclose(zd, zp, atol=1e-5)
    assert np.array_equal(mask.numpy().ravel(), valid[rows, cols])


def test_dense_views_are_aligned_back_to_the_crop():
    import torch

    from multimodal_siamese.models import augment

    crops = torch.randn(10, 3, 9, 9)
    view_1, view_2, align = augment.two_dense_views(crops, torch.Generator().manual_seed(1), noise_std=0.0)
    assert not torch.equal(view_1, view_2)
    assert torch.equal(align(view_1, 0), crops) and torch.equal(align(view_2, 1), crops)


@pytest.mark.parametrize("dense", [True, False])
def test_both_training_forms_learn(potsdam_arrays, dense):
    arrays, valid = potsdam_arrays
    result = pretraining.pretrain(arrays, valid, small_config(epochs=3, objective="simsiam", dense=dense))
    assert result.loss_history[-1] < result.loss_history[0]


@pytest.mark.parametrize("dense", [True, False])
def test_within_modality_views_add_each_modality_against_itself(potsdam_arrays, monkeypatch, dense):
    """within_modality: two augmented views of every modality, eq. (2) over the 2n views."""
    arrays, valid = potsdam_arrays
    seen = []
    loss = pretraining.losses.multimodal_siamese_loss
    monkeypatch.setattr(pretraining.losses, "multimodal_siamese_loss",
                        lambda p, z: seen.append(len(z)) or loss(p, z))
    result = pretraining.pretrain(arrays, valid, small_config(epochs=3, objective="simsiam", dense=dense,
                                                              within_modality=True))
    assert set(seen) == {4}  # VNIR twice, SWIR twice
    assert result.loss_history[-1] < result.loss_history[0] and -2.0 <= min(result.loss_history)
    assert not result.collapsed
    seen.clear()
    plain = pretraining.pretrain(arrays, valid, small_config(epochs=1, objective="simsiam", dense=dense))
    assert set(seen) == {2} and plain.loss_history[0] != result.loss_history[0]


def test_projection_width_is_a_setting_kept_in_the_architecture(potsdam_arrays):
    arrays, valid = potsdam_arrays
    result = pretraining.pretrain(arrays, valid, small_config(epochs=1, proj_channels=8))
    assert result.model.architecture()["proj_channels"] == 8
    assert [p[0].out_channels for p in result.model.projections] == [8, 8]


def test_block_widths_are_a_setting_kept_in_the_architecture(potsdam_arrays):
    """PATCH_SIZE 5 has one block: 24 channels by default, which bound z's independent values."""
    arrays, valid = potsdam_arrays
    assert pretraining.pretrain(arrays, valid, small_config(epochs=1)).model.architecture()["widths"] == [24]
    result = pretraining.pretrain(arrays, valid, small_config(epochs=1, widths=[40]))
    assert result.model.architecture()["widths"] == [40] and result.model.encoder.head[0].in_channels == 40
