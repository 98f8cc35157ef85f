"""Training objectives and a collapse monitor.

* :func:`multimodal_siamese_loss` -- the paper's eq. (2) (SimSiam-style, no negatives);
* :func:`simclr_loss`, :func:`clip_loss` -- comparator objectives of the paper's Table II,
  computed on ``z`` only (no predictor), averaged over ordered modality pairs;
* :func:`barlow_twins_loss` -- Barlow Twins' redundancy reduction across modalities, on ``z``
  only (no predictor, no negatives), averaged over modality pairs;
* :func:`representation_std`, :func:`is_collapsed` -- SimSiam's collapse check.
"""

import math
from itertools import combinations, permutations

import torch
import torch.nn.functional as F


def _check_views(name, tensors):
    if len(tensors) < 2:
        raise ValueError(f"{name} needs at least 2 views/modalities, got {len(tensors)} "
                         f"(for a single modality, use two augmented views: augment.two_views)")


def multimodal_siamese_loss(p, z):
    """Eq. (2): ``loss = - sum_k sum_{j != k} sim(p_k, stopgrad(z_j)) / C(n, 2)``.

    p, z: lists of ``n >= 2`` tensors ``(N, dim)`` (``p_k = h(z_k)``, ``z_k = f(P_k(x_k))``).
    ``sim`` is the cosine similarity of eq. (1), averaged over the batch. z is detached
    (stop-gradient), so each modality's p_k is pulled towards the other modalities' z_j.
    There are ``n(n-1)`` ordered pairs over ``C(n, 2)``: the minimum is -2 for every n.
    """
    if len(p) != len(z):
        raise ValueError(f"p and z must have the same length, got {len(p)} and {len(z)}")
    _check_views("multimodal_siamese_loss", p)
    n = len(p)
    total = sum(F.cosine_similarity(p[k], z[j].detach(), dim=1).mean()
                for k, j in permutations(range(n), 2))
    return -total / math.comb(n, 2)


def nearest_neighbour_targets(z):
    """Each sample's nearest other sample in the batch (cosine), detached: mined positives.

    Used as the targets of eq. (2) (``p_k`` against the neighbour of ``z_j`` instead of ``z_j``
    itself, as NNCLR does for SimCLR), so that pixels whose features are alike are pulled
    together beyond what the modalities or augmentations pair. ``z``: ``(N >= 2, dim)``.
    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"nearest_neighbour_targets needs a (N >= 2, dim) tensor, got {tuple(z.shape)}")
    with torch.no_grad():
        zn = F.normalize(z.float(), dim=1)
        similarity = (zn @ zn.T).fill_diagonal_(float("-inf"))
        return z.detach()[similarity.argmax(dim=1)]


def simclr_loss(z, temperature=0.1):
    """SimCLR's NT-Xent over cross-modal pairs, averaged over ordered pairs ``(k, j)``.

    For anchor ``z_k[i]`` the positive is ``z_j[i]``; the negatives are the other ``2N - 2``
    samples of ``z_k`` and ``z_j``. Averaging both orders of a pair gives the usual symmetric
    NT-Xent of the 2N samples.
    """
    _check_views("simclr_loss", z)
    zn = [F.normalize(zk, dim=1) for zk in z]
    n_batch = zn[0].shape[0]
    self_mask = torch.eye(n_batch, dtype=torch.bool, device=zn[0].device)
    target = torch.arange(n_batch, device=zn[0].device)
    losses = []
    for k, j in permutations(range(len(zn)), 2):
        cross = zn[k] @ zn[j].T / temperature                       # positives on the diagonal
        within = (zn[k] @ zn[k].T / temperature).masked_fill(self_mask, float("-inf"))
        losses.append(F.cross_entropy(torch.cat([cross, within], dim=1), target))
    return torch.stack(losses).mean()


def clip_loss(z, temperature=0.1):
    """CLIP's symmetric InfoNCE, averaged over ordered modality pairs ``(k, j)``.

    For anchor ``z_k[i]`` the positive is ``z_j[i]`` and the negatives are the other samples
    of ``z_j`` only; both orders of each pair make the loss symmetric.
    """
    _check_views("clip_loss", z)
    zn = [F.normalize(zk, dim=1) for zk in z]
    target = torch.arange(zn[0].shape[0], device=zn[0].device)
    losses = [F.cross_entropy(zn[k] @ zn[j].T / temperature, target)
              for k, j in permutations(range(len(zn)), 2)]
    return torch.stack(losses).mean()


def barlow_twins_loss(z, off_diagonal_weight=0.0051):
    """Barlow Twins (Zbontar et al., 2021) across modalities, averaged over pairs ``(k, j)``.

    Each dimension of ``z_k`` and ``z_j`` is standardised over the batch; ``c`` is their
    ``(dim, dim)`` cross-correlation. The loss pulls ``c``'s diagonal to 1 (the modalities agree
    on every feature) and its off-diagonal to 0 (features are decorrelated, so none is
    redundant and the representation cannot collapse). The off-diagonal weight is the paper's
    0.0051 (tuned there at 8,192 dimensions).
    """
    _check_views("barlow_twins_loss", z)
    n_batch, dim = z[0].shape
    if n_batch < 2:
        raise ValueError(f"barlow_twins_loss needs a batch of at least 2, got {n_batch}")
    zs = [(zk - zk.mean(0)) / (zk.std(0) + 1e-5) for zk in z]
    eye = torch.eye(dim, dtype=torch.bool, device=z[0].device)
    losses = []
    for k, j in combinations(range(len(zs)), 2):
        c = zs[k].T @ zs[j] / n_batch
        on = (torch.diagonal(c) - 1).pow(2).sum()
        off = c.masked_fill(eye, 0).pow(2).sum()
        losses.append(on + off_diagonal_weight * off)
    return torch.stack(losses).mean()


#: Comparator objectives by name; all take ``(z: list[Tensor], temperature=0.1)``.
COMPARATOR_LOSSES = {"simclr": simclr_loss, "clip": clip_loss}


def representation_std(z):
    """Collapse monitor: per-dimension std over the batch of ``z / ||z||``, averaged.

    About ``1 / sqrt(dim)`` for healthy (spread-out) features; tends to 0 when the network
    collapses to a constant output. ``z``: ``(N, dim)``, ``N >= 2``. Returns a float.
    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"representation_std needs a (N >= 2, dim) tensor, got {tuple(z.shape)}")
    with torch.no_grad():
        return F.normalize(z.detach().float(), dim=1).std(dim=0).mean().item()


#: ``std < COLLAPSE_FRACTION / sqrt(dim)`` means collapse (healthy is ~ 1 / sqrt(dim)).
COLLAPSE_FRACTION = 0.1


def is_collapsed(std, dim, fraction=COLLAPSE_FRACTION):
    """True when :func:`representation_std` fell below ``fraction / sqrt(dim)``.

    Healthy features have std ~ 1/sqrt(dim); at a tenth of that the outputs are nearly
    identical for all samples, i.e. the Siamese training has collapsed.
    """
    return std < fraction / math.sqrt(dim)
