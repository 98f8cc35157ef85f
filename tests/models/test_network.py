"""Shapes, exact receptive field (per-patch == dense) and weight transfer of the networks."""

import pytest
import torch

from multimodal_siamese.models.network import (
    Encoder, FusionClassifier, InvertedResidual, MultimodalSiamese, ProjectionConv,
    SpectralFusionClassifier, classifier_from_architecture, default_widths, n_blocks_for, shared_views_per_network,
    view_sets)


def _patches(x, p):
    """All p x p patches of (1, C, H, W), row-major over valid centres -> (L, C, p, p)."""
    c = x.shape[1]
    cols = torch.nn.functional.unfold(x, p)  # (1, C*p*p, L)
    return cols[0].T.reshape(-1, c, p, p)


def _randomise_bn(model, gen):
    """Non-trivial running statistics / affine parameters, so eval-mode BN is not identity."""
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


@pytest.mark.parametrize("patch_size", [3, 5, 9, 13])
def test_fusion_classifier_per_patch_equals_dense(patch_size):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = FusionClassifier([4, 7], patch_size, n_classes=5, dim=64)
    _randomise_bn(model, gen)
    model.eval()
    xs = [torch.randn(1, 4, 29, 31, generator=gen), torch.randn(1, 7, 29, 31, generator=gen)]
    with torch.no_grad():
        dense = model.forward_dense(xs)
        assert dense.shape == (1, 5, 29 - patch_size + 1, 31 - patch_size + 1)
        per_patch = model([_patches(x, patch_size) for x in xs])  # (L, 5)
    dense_flat = dense[0].flatten(1).T  # (L, 5), same row-major order as unfold
    assert per_patch.shape == dense_flat.shape
    assert (per_patch - dense_flat).abs().max().item() <= 1e-5


def random_spectral_classifier(band_counts, patch_size, n_classes, classifier, k, gen, dim=64, context=True,
                               networks=1, flips=False, views=8):
    """A SpectralFusionClassifier with random weights, BN statistics and spectral path."""
    model = SpectralFusionClassifier(band_counts, patch_size, n_classes, dim=dim, classifier=classifier,
                                     band_context=context, z_components=k, network_weight=0.4,
                                     networks=networks, test_time_flips=flips, views_per_network=views)
    siamese = MultimodalSiamese(band_counts, patch_size, dim=dim)
    _randomise_bn(model, gen)
    _randomise_bn(siamese, gen)
    n_bands, n_z = sum(band_counts) * (2 if context else 1), len(band_counts) * dim
    model.set_spectral_path({"band_mean": torch.randn(n_bands, generator=gen),
                             "band_scale": torch.rand(n_bands, generator=gen) + 0.5,
                             "z_mean": torch.randn(n_z if k else 0, generator=gen),
                             "z_projection": torch.randn(k, n_z if k else 0, generator=gen) * 0.1,
                             "weight": torch.randn(n_classes, n_bands + k, generator=gen),
                             "bias": torch.randn(n_classes, generator=gen)}, siamese)
    return model.eval()


@pytest.mark.parametrize("patch_size,classifier,k,context,networks,flips,views", [
    (3, "ensemble", 4, False, 1, False, 8), (5, "ensemble", 6, True, 1, False, 8), (5, "linear", 6, False, 1, False, 8),
    (5, "ensemble", 0, True, 1, False, 8), (5, "linear", 0, True, 1, False, 8), (9, "linear", 3, True, 1, False, 8),
    (5, "ensemble", 0, False, 3, False, 8), (7, "ensemble", 4, True, 2, False, 8),
    (5, "ensemble", 0, False, 3, True, 8), (3, "ensemble", 4, True, 1, True, 8),
    (5, "ensemble", 0, False, 3, True, 3), (3, "ensemble", 4, True, 2, True, 4)])
def test_spectral_classifier_per_patch_equals_dense_and_folded(patch_size, classifier, k, context, networks, flips,
                                                               views):
    """The spectral path (centre bands ‖ patch mean ‖ PCs of frozen z → linear) and its ensemble
    with one or several g, with or without test-time flips (every network over all 8 views, or
    the networks sharing them out), are receptive-field exact: per-patch == dense == folded ==
    fused inference copy (on a block that is not square)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    model = random_spectral_classifier([4, 7], patch_size, 5, classifier, k, gen, context=context,
                                       networks=networks, flips=flips, views=views)
    assert len(model.members) == networks - 1
    xs = [torch.randn(1, 4, 29, 31, generator=gen), torch.randn(1, 7, 29, 31, generator=gen)]
    with torch.no_grad():
        dense = model.forward_dense(xs)
        assert dense.shape == (1, 5, 29 - patch_size + 1, 31 - patch_size + 1)
        per_patch = model([_patches(x, patch_size) for x in xs])
        folded = model.forward_dense_folded(xs)
        fast = model.inference_copy().forward_dense_folded(
            [x.contiguous(memory_format=torch.channels_last) for x in xs], model.folded_head())
    dense_flat = dense[0].flatten(1).T
    assert (per_patch - dense_flat).abs().max().item() <= 1e-5
    assert (folded - dense).abs().max().item() <= 1e-4
    assert (fast - dense).abs().max().item() <= 1e-4
    # the ensemble really mixes both paths: probabilities are the weighted mean, the network's
    # the mean over its trainings (and over each one's flips and quarter turns of each patch)
    sets = view_sets(networks, views) if flips else [(0,)] * networks
    if flips:  # whether shared out or not, the networks together look at all 8 views
        assert sorted(set().union(*sets)) == list(range(8)) and all(len(s) == views for s in sets)
    with torch.no_grad():
        patches = [_patches(x, patch_size) for x in xs]
        turned = [[torch.rot90(x, t % 4, dims=(-2, -1)).flip(-1) if t >= 4 else torch.rot90(x, t, dims=(-2, -1))
                   for x in patches] for t in range(8)]
        nets = [lambda v: FusionClassifier.forward(model, v)] + list(model.members)
        network = torch.stack([nets[i](turned[t]).softmax(1) for i, ts in enumerate(sets) for t in ts]).mean(0)
        if flips:  # a patch and its mirror image are different inputs to g
            assert not torch.allclose(FusionClassifier.forward(model, turned[4]), FusionClassifier.forward(model, turned[0]))
        spectral = model.spectral_dense(patches).flatten(1)
    expected = spectral.softmax(1) if classifier == "linear" else \
        0.4 * network + 0.6 * spectral.softmax(1)
    assert (per_patch.softmax(1) - expected).abs().max().item() <= 1e-5


def test_spectral_classifier_architecture_round_trip_and_old_files():
    gen = torch.Generator().manual_seed(3)
    model = random_spectral_classifier([3, 2], 5, 4, "ensemble", 5, gen)
    rebuilt = classifier_from_architecture(model.architecture())
    assert type(rebuilt) is SpectralFusionClassifier
    rebuilt.load_state_dict(model.state_dict())
    x = [torch.randn(6, 3, 5, 5, generator=gen), torch.randn(6, 2, 5, 5, generator=gen)]
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model(x))
    # an architecture without 'classifier' (every file written before) is eq. (3)'s g
    old = FusionClassifier([3, 2], 5, 4, dim=64).architecture()
    assert type(classifier_from_architecture(old)) is FusionClassifier
    # an ensemble written before 'networks' existed holds one network, and loads as one
    one = model.architecture()
    del one["networks"]
    legacy = classifier_from_architecture(one)
    assert legacy.architecture()["networks"] == 1 and len(legacy.members) == 0
    legacy.load_state_dict(model.state_dict())
    # several networks travel in the same weights-only state dict
    three = random_spectral_classifier([3, 2], 5, 4, "ensemble", 0, gen, networks=3)
    again = classifier_from_architecture(three.architecture())
    again.load_state_dict(three.state_dict())
    with torch.no_grad():
        assert torch.equal(again.eval()(x), three(x))
    with pytest.raises(ValueError, match="networks"):
        SpectralFusionClassifier([3, 2], 5, 4, dim=64, networks=0)
    # test-time flips are part of the architecture (classify does what training chose); files
    # written before them load without
    flipped = random_spectral_classifier([3, 2], 5, 4, "ensemble", 0, gen, networks=2, flips=True)
    again = classifier_from_architecture(flipped.architecture())
    again.load_state_dict(flipped.state_dict())
    with torch.no_grad():
        assert again.architecture()["test_time_flips"] and torch.equal(again.eval()(x), flipped(x))
    del one["test_time_flips"]
    assert classifier_from_architecture(one).architecture()["test_time_flips"] is False
    # the views per network too: a file written before the networks shared the 8 views out runs
    # every network over all 8, as it did when it was trained
    del one["views_per_network"]
    assert classifier_from_architecture(one).architecture()["views_per_network"] == 8
    shared = random_spectral_classifier([3, 2], 5, 4, "ensemble", 0, gen, networks=3, flips=True, views=3)
    again = classifier_from_architecture(shared.architecture())
    again.load_state_dict(shared.state_dict())
    with torch.no_grad():
        assert again.architecture()["views_per_network"] == 3 and torch.equal(again.eval()(x), shared(x))
    for bad in (0, 9, 2.5, True):
        with pytest.raises(ValueError, match="views_per_network"):
            SpectralFusionClassifier([3, 2], 5, 4, dim=64, networks=3, views_per_network=bad)
    # the frozen pretrained copy keeps its BatchNorm statistics in training mode
    rebuilt.train()
    assert not rebuilt.frozen_encoder.training and rebuilt.encoder.training


@pytest.mark.parametrize("patch_size", [5, 9, 13])
def test_encoder_z_per_patch_equals_dense(patch_size):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    model = MultimodalSiamese([6], patch_size=patch_size, dim=32, pred_hidden=8)
    _randomise_bn(model, gen)
    model.eval()
    x = torch.randn(1, 6, 29, 31, generator=gen)
    with torch.no_grad():
        dense = model.encoder(model.projections[0](x))
        assert dense.shape == (1, 32, 29 - patch_size + 1, 31 - patch_size + 1)
        z, _ = model([_patches(x, patch_size)])
    diff = (z[0] - dense[0].flatten(1).T).abs().max().item()
    assert diff <= 1e-5


@pytest.mark.parametrize("bad", [0, 1, 2, 4, 12, 13.0, "13", True])
def test_bad_patch_size_raises(bad):
    with pytest.raises(ValueError, match="odd integer"):
        Encoder(bad)
    with pytest.raises(ValueError, match="odd integer"):
        MultimodalSiamese([3], patch_size=bad, dim=8)


def test_block_count_and_widths():
    assert n_blocks_for(13) == 5
    assert default_widths(5) == [24, 24, 32, 32, 64]
    assert default_widths(12)[-3:] == [128, 160, 160]
    enc = Encoder(13, dim=16)
    assert [b.conv[-2].out_channels for b in enc.blocks] == [24, 24, 32, 32, 64]
    assert [b.use_residual for b in enc.blocks] == [False, True, False, True, False]
    assert enc(torch.randn(2, 16, 11, 11)).shape == (2, 16, 1, 1)
    assert enc.embed(torch.randn(2, 16, 11, 11)).shape == (2, 16)
    with pytest.raises(ValueError, match="1x1"):
        enc.embed(torch.randn(2, 16, 12, 11))
    with pytest.raises(ValueError):
        Encoder(13, widths=[24, 24])


def test_building_blocks_shrink_by_valid_convs():
    assert ProjectionConv(5)(torch.randn(2, 5, 9, 8)).shape == (2, 16, 7, 6)
    assert InvertedResidual(16, 24, 4)(torch.randn(2, 16, 9, 8)).shape == (2, 24, 7, 6)
    block = InvertedResidual(8, 8, 4).eval()
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(block(x) - block.conv(x), x[:, :, 1:-1, 1:-1])


@pytest.mark.parametrize("band_counts, index", [([5], [0, 0]), ([5, 3], None),
                                                ([5, 3, 2], None)])
def test_siamese_forward_shapes(band_counts, index):
    torch.manual_seed(0)
    model = MultimodalSiamese(band_counts)  # defaults: patch 13, dim 2048, predictor 512
    n_views = 2 if index else len(band_counts)
    bands = [band_counts[i] for i in (index or range(n_views))]
    xs = [torch.randn(4, b, 13, 13) for b in bands]
    z, p = model(xs, projection_index=index)
    assert len(z) == len(p) == n_views
    assert all(t.shape == (4, 2048) for t in z + p)


def test_siamese_forward_rejects_wrong_input_count():
    model = MultimodalSiamese([2, 3], dim=8, pred_hidden=4)
    with pytest.raises(ValueError, match="projection_index"):
        model([torch.randn(2, 2, 13, 13)])


def test_architecture_round_trip():
    torch.manual_seed(0)
    m = MultimodalSiamese([4, 2], patch_size=9, dim=32, pred_hidden=8)
    arch = m.architecture()
    assert arch == {"band_counts": [4, 2], "patch_size": 9, "proj_channels": 16, "dim": 32,
                    "pred_hidden": 8, "widths": [24, 24, 32], "expand_ratio": 4}
    m2 = MultimodalSiamese.from_architecture(arch)
    m2.load_state_dict(m.state_dict())  # same shapes
    c = FusionClassifier([4, 2], 9, 6, dim=32)
    c2 = FusionClassifier.from_architecture(c.architecture())
    assert c2.architecture()["n_classes"] == 6
    c2.load_state_dict(c.state_dict())
    with pytest.raises(ValueError, match="unknown"):
        FusionClassifier.from_architecture({**c.architecture(), "bogus": 1})


def test_load_pretrained_copies_projections_and_encoder():
    torch.manual_seed(0)
    siam = MultimodalSiamese([4, 6], patch_size=9, dim=32, pred_hidden=8)
    torch.manual_seed(1)
    clf = FusionClassifier([4, 6], 9, n_classes=3, dim=32)
    head_before = clf.linear.weight.clone()
    assert not torch.equal(clf.encoder.head[0].weight, siam.encoder.head[0].weight)
    report = clf.load_pretrained(siam.state_dict())
    for name, t in clf.encoder.state_dict().items():
        assert torch.equal(t, siam.encoder.state_dict()[name]), name
    for a, b in zip(clf.projections.state_dict().values(), siam.projections.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(clf.linear.weight, head_before)
    assert report["ignored"] and all(k.startswith("predictor.") for k in report["ignored"])


def test_load_pretrained_refuses_band_mismatch():
    siam = MultimodalSiamese([4, 6], patch_size=9, dim=32, pred_hidden=8)
    clf = FusionClassifier([4, 5], 9, n_classes=3, dim=32)
    with pytest.raises(ValueError, match=r"modality 1 has 5 bands .* but 6 bands"):
        clf.load_pretrained(siam.state_dict())
    with pytest.raises(ValueError, match="2 modalities .* has 1"):
        FusionClassifier([4], 9, 3, dim=32).load_pretrained(siam.state_dict())
    with pytest.raises(ValueError, match="shape"):
        FusionClassifier([4, 6], 9, 3, dim=16).load_pretrained(siam.state_dict())
    with pytest.raises(ValueError):
        FusionClassifier([4, 6], 13, 3, dim=32).load_pretrained(siam.state_dict())


def test_networks_share_the_eight_test_time_views_out():
    """New models: ceil(8 / networks) views per network, consecutive runs of D4_ORDER, so that the
    networks together cover D4 with the fewest passes; one network keeps all 8."""
    assert [shared_views_per_network(n) for n in (1, 2, 3, 4, 5, 8, 10)] == [8, 4, 3, 2, 2, 1, 1]
    assert view_sets(1, 8) == [(0, 4, 2, 6, 1, 5, 3, 7)]
    assert view_sets(2, 4) == [(0, 4, 2, 6), (1, 5, 3, 7)]  # the flips and half turn; the rest
    assert view_sets(3, 3) == [(0, 4, 2), (6, 1, 5), (3, 7, 0)]
    for n in range(1, 11):
        sets = view_sets(n, shared_views_per_network(n))
        assert sorted(set().union(*sets)) == list(range(8))
        assert all(len(set(s)) == len(s) for s in sets)  # no network sees a view twice
