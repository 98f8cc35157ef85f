"""Eq. (2) loss, comparator losses, collapse monitor and the unimodal two-view augmentation."""

import math

import pytest
import torch

from multimodal_siamese.models.augment import two_views
from multimodal_siamese.models.losses import (
    barlow_twins_loss, clip_loss, is_collapsed, multimodal_siamese_loss, nearest_neighbour_targets,
    representation_std, simclr_loss)
from multimodal_siamese.models.network import MultimodalSiamese


@pytest.mark.parametrize("n", [2, 3, 4])
def test_loss_minimum_is_minus_two(n):
    v = torch.randn(8, 32, generator=torch.Generator().manual_seed(n))
    # p_k == z_j for all pairs (identical vectors per sample, arbitrary positive scales)
    p = [v * (k + 1) for k in range(n)]
    z = [v * (k + 0.5) for k in range(n)]
    assert abs(multimodal_siamese_loss(p, z).item() + 2.0) <= 1e-6


@pytest.mark.parametrize("n", [2, 3, 4])
def test_random_loss_in_range(n):
    gen = torch.Generator().manual_seed(10 + n)
    p = [torch.randn(16, 32, generator=gen) for _ in range(n)]
    z = [torch.randn(16, 32, generator=gen) for _ in range(n)]
    loss = multimodal_siamese_loss(p, z).item()
    assert -2.0 < loss <= 2.0
    # perfectly opposite predictions give the maximum +2
    assert abs(multimodal_siamese_loss([-z[1], -z[0]], z[:2]).item() - 2.0) <= 1e-6


def test_loss_needs_two_views():
    z = [torch.randn(4, 8)]
    with pytest.raises(ValueError, match="at least 2"):
        multimodal_siamese_loss(z, z)
    with pytest.raises(ValueError):
        multimodal_siamese_loss(z * 2, z * 3)
    for fn in (simclr_loss, clip_loss, barlow_twins_loss):
        with pytest.raises(ValueError, match="at least 2"):
            fn(z)


def test_stop_gradient():
    gen = torch.Generator().manual_seed(0)
    z = [torch.randn(8, 16, generator=gen, requires_grad=True) for _ in range(3)]
    w = torch.randn(8, 16, generator=gen, requires_grad=True)
    p = [w * (k + 1) + 0.1 * k for k in range(3)]
    multimodal_siamese_loss(p, z).backward()
    assert all(t.grad is None or not t.grad.abs().any() for t in z)
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_stop_gradient_through_shared_network():
    """z_k still trains P_k and f through p_k = h(z_k); only the target branch is cut."""
    torch.manual_seed(0)
    model = MultimodalSiamese([3, 2], patch_size=5, dim=16, pred_hidden=8)
    xs = [torch.randn(6, 3, 5, 5), torch.randn(6, 2, 5, 5)]
    z, p = model(xs)
    multimodal_siamese_loss(p, z).backward()
    assert all(par.grad is not None for par in model.parameters())


def test_loss_is_order_invariant():
    gen = torch.Generator().manual_seed(3)
    p = [torch.randn(8, 16, generator=gen) for _ in range(4)]
    z = [torch.randn(8, 16, generator=gen) for _ in range(4)]
    ref = multimodal_siamese_loss(p, z)
    for perm in ([1, 0, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        other = multimodal_siamese_loss([p[i] for i in perm], [z[i] for i in perm])
        assert torch.allclose(ref, other, atol=1e-6)


def test_unimodal_two_views_training_step():
    torch.manual_seed(0)
    model = MultimodalSiamese([4], patch_size=5, dim=16, pred_hidden=8)
    x = torch.randn(6, 4, 5, 5)
    v1, v2 = two_views(x, torch.Generator().manual_seed(0))
    z, p = model([v1, v2], projection_index=[0, 0])
    loss = multimodal_siamese_loss(p, z)
    assert torch.isfinite(loss) and -2.0 <= loss.item() <= 2.0
    loss.backward()
    assert model.projections[0][0].weight.grad is not None


def test_two_views_deterministic_and_shape_preserving():
    x = torch.randn(32, 3, 7, 7)
    a1, a2 = two_views(x, torch.Generator().manual_seed(42))
    b1, b2 = two_views(x, torch.Generator().manual_seed(42))
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert a1.shape == a2.shape == x.shape
    assert not torch.equal(a1, a2)
    c1, _ = two_views(x, torch.Generator().manual_seed(43))
    assert not torch.equal(a1, c1)


def test_two_views_are_dihedral_transforms():
    x = torch.randn(64, 2, 5, 5)
    v, _ = two_views(x, torch.Generator().manual_seed(0), noise_std=0.0)
    seen = set()
    for i in range(x.shape[0]):
        for t in range(8):
            cand = torch.rot90(x[i], t % 4, dims=(-2, -1))
            cand = torch.flip(cand, dims=(-1,)) if t >= 4 else cand
            if torch.equal(cand, v[i]):
                seen.add(t)
                break
        else:
            pytest.fail(f"sample {i} is not a dihedral transform of its input")
        assert torch.equal(v[i, :, 2, 2], x[i, :, 2, 2])  # centre pixel stays the centre
    assert len(seen) == 8  # all 8 transforms occur in 64 samples
    with pytest.raises(ValueError, match="square"):
        two_views(torch.randn(2, 1, 5, 6), torch.Generator())


def test_representation_std_and_collapse():
    gen = torch.Generator().manual_seed(0)
    dim = 256
    healthy = representation_std(torch.randn(512, dim, generator=gen))
    assert abs(healthy - 1 / math.sqrt(dim)) < 0.2 / math.sqrt(dim)
    assert not is_collapsed(healthy, dim)
    collapsed = representation_std(torch.ones(512, dim) + 1e-6 * torch.randn(512, dim))
    assert collapsed < 1e-4 and is_collapsed(collapsed, dim)


@pytest.mark.parametrize("fn", [simclr_loss, clip_loss, barlow_twins_loss])
def test_comparator_losses(fn):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(16, 32, generator=gen)
    aligned = fn([z, z.clone(), 2 * z])
    random = fn([z, torch.randn(16, 32, generator=gen), torch.randn(16, 32, generator=gen)])
    assert torch.isfinite(aligned) and torch.isfinite(random)
    assert aligned < random
    a = torch.randn(8, 16, generator=gen)
    b = torch.randn(8, 16, generator=gen)
    assert torch.allclose(fn([a, b]), fn([b, a]), atol=1e-6)  # symmetric


def test_barlow_twins_matches_its_definition():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(64, 8, generator=gen), torch.randn(64, 8, generator=gen)
    an, bn = [(x - x.mean(0)) / x.std(0) for x in (a, b)]
    c = an.T @ bn / 64
    off = c - torch.diag(torch.diagonal(c))
    reference = ((torch.diagonal(c) - 1) ** 2).sum() + 0.5 * (off ** 2).sum()
    assert torch.allclose(barlow_twins_loss([a, b], off_diagonal_weight=0.5), reference, atol=1e-3)
    # identical, decorrelated features (an orthogonal basis, standardised) give zero loss;
    # a constant feature (collapse) gives a diagonal term of 1 for its dimension
    x = torch.randn(64, 8, generator=gen)
    q = torch.linalg.qr(x - x.mean(0))[0]  # orthonormal columns, each centred
    assert barlow_twins_loss([q, 3 * q + 1]).item() < 0.05
    collapsed = q.clone()
    collapsed[:, 0] = 1.0
    assert barlow_twins_loss([collapsed, collapsed]).item() > 0.9


def test_nearest_neighbour_targets_are_the_closest_other_sample():
    z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]], requires_grad=True)
    targets = nearest_neighbour_targets(z)
    assert torch.equal(targets, z.detach()[[1, 0, 3, 2]])  # never the sample itself
    assert not targets.requires_grad
    with pytest.raises(ValueError, match="N >= 2"):
        nearest_neighbour_targets(z[:1])


def test_simclr_matches_reference_nt_xent():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    t = 0.5
    h = torch.nn.functional.normalize(torch.cat([a, b]), dim=1)
    sim = (h @ h.T / t).fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(6, 12), torch.arange(0, 6)])
    ref = torch.nn.functional.cross_entropy(sim, target)
    assert torch.allclose(simclr_loss([a, b], temperature=t), ref, atol=1e-5)
