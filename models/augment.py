"""Augmentation with the dihedral group D4 (the 8 flips / 90-degree rotations, which keep the
patch centre on the centre pixel).

With several modalities the modalities themselves are the positive pairs (the paper uses no
augmentation). With one modality (or ``PretrainConfig.within_modality``) eq. (2) needs two
views: each gets, per sample, a random element of D4 plus additive Gaussian noise on every
band and pixel. The classifier trains on random D4 elements (:func:`random_dihedral`), and the
default ensemble averages its networks over all 8 at test time (:func:`dihedral`,
:func:`undo_dihedral`). The context objective of pretraining hides each patch's centre pixel on
the predictor's side (:func:`mask_centre`).
"""

import torch


def dihedral(x, t):
    """Element ``t`` (0..7) of D4 on the last two axes: ``t % 4`` quarter turns, then a
    horizontal flip when ``t >= 4``."""
    x = torch.rot90(x, t % 4, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if t >= 4 else x


def _apply_dihedral(x, t):
    out = torch.empty_like(x)
    for k in range(8):  # vectorised over the batch: one masked assignment per transform
        mask = t == k
        if mask.any():
            out[mask] = dihedral(x[mask], k)
    return out


def _random_elements(n, generator, device):
    return torch.randint(0, 8, (n,), generator=generator, device=generator.device).to(device)


def undo_dihedral(x, t):
    """Inverse of :func:`dihedral`: flip back first, then turn back."""
    if t >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, -(t % 4), dims=(-2, -1))


def two_dense_views(crops, generator, noise_std=0.05):
    """Unimodal dense pretraining: two views of square crops ``(B, C, L, L)``, each crop with its
    own random D4 element and noise. Returns ``(view_1, view_2, align)`` where
    ``align(maps, which)`` maps a dense output of view ``which`` back onto the crop's own
    pixel positions, so that z of the same pixel can be compared across views."""
    elements = [_random_elements(crops.shape[0], generator, crops.device) for _ in range(2)]
    views = []
    for t in elements:
        noise = torch.randn(crops.shape, generator=generator, device=generator.device, dtype=crops.dtype)
        views.append(_apply_dihedral(crops, t) + noise_std * noise.to(crops.device))

    def align(maps, which):
        out = torch.empty_like(maps)
        t = elements[which]
        for k in range(8):
            mask = t == k
            if mask.any():
                out[mask] = undo_dihedral(maps[mask], k)
        return out

    return views[0], views[1], align


def random_dihedral(inputs, generator):
    """Classifier training augmentation: one random D4 element per sample, the *same* for
    every modality of that sample (they are co-registered). ``inputs``: list of (N, C_k, P, P)."""
    t = _random_elements(inputs[0].shape[0], generator, inputs[0].device)
    return [_apply_dihedral(x, t) for x in inputs]


def _view(x, generator, noise_std):
    out = _apply_dihedral(x, _random_elements(x.shape[0], generator, x.device))
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return out + noise_std * noise.to(x.device)


def two_views(x, generator, noise_std=0.05):
    """Two random views of a batch of square patches ``(N, C, P, P)``.

    Each view: per-sample random dihedral transform + ``N(0, noise_std^2)`` noise (inputs are
    expected standardised per band, so ``noise_std`` is relative to each band's spread).
    Deterministic for a given ``generator`` state; the random numbers are drawn on the
    generator's device, so results do not depend on ``x``'s device.
    """
    if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"two_views needs square patches (N, C, P, P), got {tuple(x.shape)}")
    return _view(x, generator, noise_std), _view(x, generator, noise_std)


def mask_centre(x, core=1):
    """Patches ``(N, C, P, P)`` with the centre pixel (or the centre ``core`` × ``core`` pixels, core
    odd) set to 0 (the band mean of standardised inputs) in every band: the surroundings without
    the pixel itself."""
    out = x.clone()
    first = (x.shape[-1] - core) // 2
    out[..., first:first + core, first:first + core] = 0
    return out
