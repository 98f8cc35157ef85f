"""The spectral linear path: a regularised linear model on the centre pixel's full spectrum.

With a few hundred labels, a shrinkage LDA or a logistic regression on the standardised bands of
every modality is the strongest classic classifier (data README, issue 12). The linear model
here sees ``[centre-pixel bands ‖ the patch's mean spectrum ‖ k whitened principal components
of the pretrained z]``, standardised (mean spectrum and z optional; z of every modality,
concatenated). Fitted with numpy and scikit-learn; only plain arrays come out, which
:class:`..models.network.SpectralFusionClassifier` stores as tensors (no pickled estimator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from .folds import block_folds

# 'lda': the spectral path's LDA, one within-class covariance shrunk by the OAS estimate on all
# classes' centred samples together (:func:`_pooled_lda`); 'sklearn_lda': scikit-learn's shrinkage
# LDA (Ledoit-Wolf shrinkage per class, then pooled), the classic baseline an analyst runs
# elsewhere; 'logistic': LogisticRegression(C=0.1). Inside the default classifier, on the four
# scenes of few_labels.py, the pooled estimate gained up to 0.8 OA and 1.4 mIoU points over
# scikit-learn's on Potsdam and Para and lost up to 0.9 OA on Tahoe (few_labels.md, seventeenth session).
LINEAR_MODELS = ("lda", "logistic", "sklearn_lda")
# Our evaluation (benchmarks/results/few_labels.md): principal components of the pretrained z
# made the linear model worse on Potsdam and Tahoe; calibrating the LDA before averaging cost
# accuracy on Potsdam. Both off.
DEFAULT_Z_COMPONENTS = 0
DEFAULT_CALIBRATE = False
# The patch's mean spectrum beside the centre pixel's bands ('band context') helps where objects
# span several pixels and blurs where objects are pixel-sized: always on, the default gained +0.9 to
# +2.3 OA points on Tahoe (0.5 m) and +0.4 to +1.6 on Pará (10 m) at 5-20 % labels, and lost 0.4 to
# 0.9 on Potsdam's EnMAP (30 m). 'auto', the default, lets the labels decide
# (:func:`choose_band_context`); 'off' and 'on' force it (few_labels.md, fourteenth session).
BAND_CONTEXT_CHOICES = ("auto", "off", "on")
DEFAULT_BAND_CONTEXT = "auto"
# choose_band_context's cross-validation: the evaluation's default block size, 3 folds, 3 draws of
# the blocks; a held-out sample's log-likelihood counts at most this much (one confident mistake
# must not outweigh everything else)
CONTEXT_BLOCK_SIZE = 39
CONTEXT_FOLDS = 3
CONTEXT_REPEATS = 3
CONTEXT_SEED_STEP = 100
MIN_LOG_LIKELIHOOD = -30.0
ABSENT_CLASS_BIAS = -30.0  # a class without training samples is never predicted


def pixel_spectra(source, rows: np.ndarray, cols: np.ndarray, patch_size: int, context: bool = False,
                  batch_size: int = 2048) -> np.ndarray:
    """The centre pixel's bands of every modality, concatenated: (N, B); with ``context`` also
    the patch's mean spectrum: (N, 2B) (an exact P×P average, so dense maps stay exact).

    ``source``: a patch source (``.batch``), or, without ``context``, the normalised arrays
    themselves (list of (bands, H, W)), whose centre bands are read in place: no padded copy."""
    if not hasattr(source, "batch"):
        if context:
            raise ValueError("the patch's mean spectrum needs a patch source, not plain arrays")
        return np.concatenate([a[:, rows, cols].T for a in source], 1)
    h = patch_size // 2
    out = []
    for start in range(0, len(rows), batch_size):
        patches = source.batch(rows[start:start + batch_size], cols[start:start + batch_size], "cpu")
        parts = [torch.cat([p[:, :, h, h] for p in patches], 1)]
        if context:
            parts.append(torch.cat([p.mean((2, 3)) for p in patches], 1))
        out.append(torch.cat(parts, 1).numpy())
    width = sum(source.band_counts) * (2 if context else 1)
    return np.concatenate(out) if out else np.zeros((0, width), np.float32)


@torch.inference_mode()
def pretrained_z(projections, encoder, source, rows: np.ndarray, cols: np.ndarray,
                 batch_size: int = 1024) -> np.ndarray:
    """z_k = f(P_k(x_k)) of each modality (eval mode), concatenated: (N, modalities × dim)."""
    projections.eval()
    encoder.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        patches = source.batch(rows[start:start + batch_size], cols[start:start + batch_size], "cpu")
        out.append(torch.cat([encoder.embed(p(x)) for p, x in zip(projections, patches)], 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.dim * len(projections)), np.float32)


def _standardise(values: np.ndarray):
    mean = values.mean(0)
    scale = values.std(0)
    scale[~(scale > 1e-8)] = 1.0  # a constant band stays constant (0) after centring
    return mean, scale


def z_components(z: np.ndarray, k: int):
    """Whitened principal components of ``z`` (training samples): (mean (D,), projection (k', D))
    with ``(z - mean) @ projection.T`` of unit variance; k' = min(k, N - 1, D)."""
    mean = z.mean(0)
    k = max(0, min(k, len(z) - 1, z.shape[1]))
    if k == 0:
        return mean, np.zeros((0, z.shape[1]), np.float64)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    std = s[:k] / np.sqrt(max(len(z) - 1, 1))
    keep = std > 1e-8 * max(std[0], 1e-30)
    return mean, vt[:k][keep] / std[keep, None]


def fit_linear(features: np.ndarray, y: np.ndarray, n_classes: int, model: str = "lda"):
    """A linear model of :data:`LINEAR_MODELS` → (weight (K, F), bias (K,)) whose softmax is its
    class probabilities (for the scikit-learn estimators, their ``predict_proba``); a class
    absent from ``y`` gets a very low bias."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression

    if model not in LINEAR_MODELS:
        raise ValueError(f"unknown linear model {model!r}; use one of {LINEAR_MODELS}")
    weight = np.zeros((n_classes, features.shape[1]))
    bias = np.full(n_classes, ABSENT_CLASS_BIAS)
    present = np.unique(y)
    if len(present) == 1:
        bias[present[0]] = 0.0
        return weight, bias
    if model != "logistic" and len(y) <= len(present):
        # scikit-learn's LDA needs more samples than classes: nearest class mean instead (the
        # LDA of an identity covariance)
        for k in present:
            mean = features[y == k].mean(0)
            weight[k], bias[k] = mean, -0.5 * float(mean @ mean)
        return weight, bias
    if model == "lda":
        return _pooled_lda(features, y, present, weight, bias)
    estimator = (LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto") if model == "sklearn_lda"
                 else LogisticRegression(C=0.1, max_iter=2000))
    estimator.fit(features, y)
    coef, intercept = np.atleast_2d(estimator.coef_), np.atleast_1d(estimator.intercept_)
    if len(present) == 2:  # one decision function d: probabilities softmax([0, d])
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    weight[estimator.classes_] = coef
    bias[estimator.classes_] = intercept
    return weight, bias


def z_rank_bound(projections, encoder) -> int:
    """At most how many independent values the concatenated z of all modalities has: the output
    layer (1x1 convolution + BatchNorm) is affine in the last block's C channels."""
    return len(projections) * (encoder.head[0].in_channels + 1)


def probe_logits(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, n_classes: int,
                 rank_bound: int | None = None, seed: int = 0) -> np.ndarray:
    """Test logits of the linear probe: ``LogisticRegression(C=0.1)`` on the standardised z, the
    same model as ``fit_spectral_path(z, None, y, n, 'logistic')``, fitted in fewer dimensions.

    An L2-penalised linear model's weights lie in the span of its training rows, so fitting it on
    the rows' coordinates in an orthonormal basis of that span gives the same model and the same
    test logits. z has modalities × dim values but at most ``rank_bound`` independent ones: the
    encoder's output layer is affine in its last block's C channels, so modalities × (C + 1)
    (50 at PATCH_SIZE 5, against 4,096 values). The basis comes from a random range finder of
    that size; when it does not hold the rows (a wrong bound), the full z is used."""
    z_train, z_test = np.asarray(z_train, np.float64), np.asarray(z_test, np.float64)
    mean, scale = _standardise(z_train)
    train, test = (z_train - mean) / scale, (z_test - mean) / scale
    k = min(rank_bound or train.shape[1], *train.shape)
    if k < train.shape[1]:
        omega = np.random.default_rng(seed).standard_normal((train.shape[0], k))
        basis, _ = np.linalg.qr(train.T @ omega)                       # (features, k), orthonormal
        coordinates = train @ basis
        # float32 z is low-rank only up to its rounding (~1e-7): that much residual is expected
        if np.linalg.norm(train - coordinates @ basis.T) <= 1e-5 * max(np.linalg.norm(train), 1e-30):
            train, test = coordinates, test @ basis
    weight, bias = fit_linear(train, y_train, n_classes, "logistic")
    return test @ weight.T + bias


def _pooled_lda(features, y, present, weight, bias):
    """Gaussian classes with one shared covariance: the within-class scatter of all classes'
    centred samples together, each feature scaled to unit within-class spread, shrunk towards the
    identity by the Oracle Approximating Shrinkage estimate (Chen et al. 2010, for fewer samples
    than features); class priors from the counts. Fills ``weight``/``bias`` of the present classes."""
    from sklearn.covariance import OAS

    index = np.searchsorted(present, y)
    means = np.stack([features[index == i].mean(0) for i in range(len(present))])
    residuals = features - means[index]
    spread = residuals.std(0)
    spread[spread < 1e-12] = 1.0
    correlation = OAS(assume_centered=True).fit(residuals / spread).covariance_
    correlation[np.diag_indices_from(correlation)] += 1e-9  # never singular (a band without spread)
    coef = np.linalg.solve(correlation, (means / spread).T).T / spread
    weight[present] = coef
    bias[present] = -0.5 * np.sum(coef * means, 1) + np.log(np.bincount(index) / len(y))
    return weight, bias


def calibration_temperature(features: np.ndarray, y: np.ndarray, n_classes: int, model: str,
                            folds: int = 3, seed: int = 0) -> float:
    """Temperature T for the linear model's logits that maximises the likelihood of
    out-of-fold predictions (stratified ``folds``-fold CV on the training samples). A shrinkage
    LDA on hundreds of bands is far too sure of itself (T ≫ 1): uncalibrated, it would outvote
    the network in every probability average. 1.0 when a class has fewer than ``folds`` samples."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(y)
    if len(np.unique(y)) < 2 or counts[counts > 0].min() < folds:
        return 1.0
    logits = np.zeros((len(y), n_classes))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        weight, bias = fit_linear(features[train], y[train], n_classes, model)
        logits[test] = features[test] @ weight.T + bias
    temperatures = np.logspace(0, 3, 61)
    nll = [-log_softmax(logits / t)[np.arange(len(y)), y].mean() for t in temperatures]
    return float(temperatures[int(np.argmin(nll))])


def fit_spectral_path(bands: np.ndarray, z: np.ndarray | None, y: np.ndarray, n_classes: int,
                      model: str = "lda", k: int = DEFAULT_Z_COMPONENTS, calibrate: bool = False) -> dict:
    """Fit the spectral path on training samples → plain float32 arrays:
    band_mean, band_scale (B,), z_mean (D,), z_projection (k', D), weight (K, B + k'), bias (K,),
    temperature (the weights and bias are already divided by it; 1 without ``calibrate``).
    Without ``z`` (no pretrained encoder) only the bands are used (k' = 0)."""
    bands = np.asarray(bands, np.float64)
    band_mean, band_scale = _standardise(bands)
    features = [(bands - band_mean) / band_scale]
    if z is not None and k > 0:
        z = np.asarray(z, np.float64)
        z_mean, z_projection = z_components(z, k)
        features.append((z - z_mean) @ z_projection.T)
    else:
        z_mean, z_projection = np.zeros(0), np.zeros((0, 0))
    features = np.concatenate(features, 1)
    weight, bias = fit_linear(features, y, n_classes, model)
    temperature = calibration_temperature(features, y, n_classes, model) if calibrate else 1.0
    return {key: np.asarray(value, np.float32) for key, value in dict(
        band_mean=band_mean, band_scale=band_scale, z_mean=z_mean, z_projection=z_projection,
        weight=weight / temperature, bias=bias / temperature, temperature=temperature).items()}


def out_of_fold_probabilities(bands: np.ndarray, y: np.ndarray, n_classes: int, model: str = "lda",
                              folds: int = 5, seed: int = 0) -> np.ndarray:
    """Class probabilities of each training sample from the spectral path fitted without it:
    (N, K). Each class's samples are dealt into ``folds`` folds at random (from ``seed``); a class
    with fewer samples than folds leaves some folds without it, where its held-out samples get
    the absent class's probability (≈ 0). What the path would say of a pixel it has not seen."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(y), np.int64)
    offset = 0
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        fold_of[rng.permutation(members)] = (offset + np.arange(len(members))) % folds
        offset += len(members)  # small classes do not all start in fold 0
    probabilities = np.zeros((len(y), n_classes))
    for fold in range(folds):
        held_out = fold_of == fold
        if not held_out.any():
            continue
        path = fit_spectral_path(bands[~held_out], None, y[~held_out], n_classes, model)
        probabilities[held_out] = np.exp(log_softmax(spectral_logits(path, bands[held_out], None)))
    return probabilities


@dataclass
class ContextChoice:
    """Whether the spectral path reads the patch's mean spectrum, and why."""
    use: bool
    setting: str = DEFAULT_BAND_CONTEXT
    centre_loss: float | None = None   # held-out mean negative log-likelihood, centre pixel only
    context_loss: float | None = None  # the same with the patch's mean spectrum
    scored: int = 0                    # held-out samples scored, over every draw of the blocks

    def sentence(self, patch_size: int) -> str:
        mean = f"the {patch_size}×{patch_size} patch's mean spectrum"
        if self.setting != "auto":
            return f"{mean} {'added' if self.use else 'left out'} (set by hand)."
        if not self.scored:
            return (f"{mean} left out: the labels lie in fewer than {CONTEXT_FOLDS} blocks of "
                    f"{CONTEXT_BLOCK_SIZE} px, too few for the cross-validation that would decide.")
        return (f"{mean} {'added' if self.use else 'left out'}: in a spatially blocked cross-validation "
                f"on the labels ({CONTEXT_FOLDS} folds of {CONTEXT_BLOCK_SIZE}-px blocks, drawn "
                f"{CONTEXT_REPEATS} times) the LDA's held-out log-loss (lower is better) was "
                f"{self.context_loss:.3f} with it and {self.centre_loss:.3f} without.")


def context_folds(rows: np.ndarray, cols: np.ndarray, y: np.ndarray, patch_size: int, seed: int):
    """The (train, test) folds :func:`choose_band_context` scores on: ``CONTEXT_FOLDS`` folds of
    ``CONTEXT_BLOCK_SIZE``-px blocks with the evaluation's halo, drawn ``CONTEXT_REPEATS`` times
    (seeds ``seed``, ``seed + CONTEXT_SEED_STEP``, ...); folds with fewer than 2 training or no
    test samples are skipped, and nothing is drawn when the labels lie in fewer blocks than folds."""
    shape = (int(rows.max(initial=0)) + 1, int(cols.max(initial=0)) + 1)
    for repeat in range(CONTEXT_REPEATS):
        try:
            folds = block_folds(rows, cols, CONTEXT_FOLDS, CONTEXT_BLOCK_SIZE, patch_size, shape,
                                seed + CONTEXT_SEED_STEP * repeat, y)
        except InputError:  # the labels lie in fewer blocks than folds
            return
        for train, test in folds:
            if len(train) >= 2 and len(test):
                yield train, test


def choose_band_context(spectra: np.ndarray, rows: np.ndarray, cols: np.ndarray, y: np.ndarray,
                        n_classes: int, patch_size: int, seed: int, model: str = "lda",
                        check=lambda: None) -> ContextChoice:
    """Does the patch's mean spectrum help the spectral path on these labels? ``spectra``: the
    training pixels' [centre bands ‖ patch mean] (:func:`pixel_spectra` with ``context``). The
    path is fitted with and without the mean on spatially blocked folds of the training pixels
    (the evaluation's blocks and halo, :func:`.folds.block_folds`, drawn ``CONTEXT_REPEATS``
    times) and the mean is kept when it lowers the held-out negative log-likelihood. Random
    folds would not do: neighbouring labels (a polygon's pixels) share most of their patch, so
    the mean would look better than it is. ``check`` is called before each fit (cancel).
    Seconds on 2 cores: 0.4 for 156 labels of 218 bands, 0.6 for 5,672, 7 for 50,000 labels of 200
    bands (scikit-learn's LDA took 0.7, 2 and 15)."""
    y = np.asarray(y)
    centre = spectra[:, :spectra.shape[1] // 2]
    loss = {False: 0.0, True: 0.0}
    scored = 0
    for train, test in context_folds(rows, cols, y, patch_size, seed):
        for use, features in ((False, centre), (True, spectra)):
            check()
            path = fit_spectral_path(features[train], None, y[train], n_classes, model)
            log_p = log_softmax(spectral_logits(path, features[test], None))
            loss[use] -= float(np.maximum(log_p[np.arange(len(test)), y[test]], MIN_LOG_LIKELIHOOD).sum())
        scored += len(test)
    if not scored:
        return ContextChoice(False, "auto")
    return ContextChoice(loss[True] < loss[False], "auto", loss[False] / scored, loss[True] / scored, scored)


def check_band_context(setting: str):
    """The SPECTRAL_CONTEXT setting must be one of :data:`BAND_CONTEXT_CHOICES`."""
    if setting not in BAND_CONTEXT_CHOICES:
        raise InputError(f"SPECTRAL_CONTEXT must be one of {', '.join(BAND_CONTEXT_CHOICES)}, not {setting!r}.")


def training_spectra(setting: str, source, rows: np.ndarray, cols: np.ndarray, patch_size: int):
    """The training pixels' [centre bands ‖ patch mean], read once for both :func:`resolve_band_context`
    and :func:`add_spectral_path`; None for 'off' (the path then reads the centre bands alone)."""
    check_band_context(setting)
    return None if setting == "off" else pixel_spectra(source, rows, cols, patch_size, context=True)


def resolve_band_context(setting: str, spectra: np.ndarray | None, rows: np.ndarray, cols: np.ndarray,
                         y: np.ndarray, n_classes: int, patch_size: int, seed: int,
                         check=lambda: None) -> ContextChoice:
    """'off' / 'on' as given; 'auto': :func:`choose_band_context` on the training pixels' ``spectra``
    (:func:`training_spectra`)."""
    check_band_context(setting)
    if setting != "auto":
        return ContextChoice(setting == "on", setting)
    return choose_band_context(spectra, rows, cols, y, n_classes, patch_size, seed, check=check)


def spectral_logits(path: dict, bands: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """Logits of a fitted spectral path (numpy; the torch module computes the same)."""
    features = [(bands - path["band_mean"]) / path["band_scale"]]
    if len(path["z_projection"]):
        features.append((z - path["z_mean"]) @ path["z_projection"].T)
    return np.concatenate(features, 1) @ path["weight"].T + path["bias"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log class probabilities of logits (N, K), in float64."""
    return torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), 1).numpy()


def average_probabilities(logit_list: list, weights: list | None = None) -> np.ndarray:
    """log of the (weighted) mean of softmax probabilities: an ensemble's logits."""
    weights = np.full(len(logit_list), 1 / len(logit_list)) if weights is None else np.asarray(weights)
    stacked = torch.stack([torch.as_tensor(log_softmax(l)) for l in logit_list])
    return torch.logsumexp(stacked + torch.log(torch.as_tensor(weights))[:, None, None], 0).numpy()


def pretrained_siamese(state: dict, architecture: dict):
    """The pretraining network (eval mode) from a pretrained checkpoint's weights and architecture."""
    from ...models.network import MultimodalSiamese

    model = MultimodalSiamese.from_architecture(architecture)
    model.load_state_dict(state)
    return model.eval()


def add_spectral_path(network, source, rows: np.ndarray, cols: np.ndarray, targets: np.ndarray,
                      classifier: str, pretrained_state: dict | None = None,
                      pretrained_architecture: dict | None = None, model: str = "lda",
                      k: int = DEFAULT_Z_COMPONENTS, context: bool = False,
                      calibrate: bool = DEFAULT_CALIBRATE, network_weight: float = 0.5, members=(),
                      test_time_flips: bool = False, spectra: np.ndarray | None = None):
    """A trained eq. (3) network → :class:`SpectralFusionClassifier` holding it beside a spectral
    path fitted on the same training pixels (``classifier`` 'ensemble' or 'linear'): the centre
    pixel's bands (and with ``context`` the patch's mean spectrum), and ``k`` principal
    components of the *pretrained* z when a pretrained encoder is given. ``members``: further
    fine-tunings of the same network (other seeds), averaged with it; ``test_time_flips``: the
    networks' probabilities averaged over flipped and turned copies of the patch as well, the
    networks sharing the 8 flips and quarter turns out between them (``ceil(8 / networks)`` each);
    ``spectra``: the training pixels' [centre bands ‖ patch mean] when already read
    (:func:`training_spectra`)."""
    from ...models.network import SpectralFusionClassifier, shared_views_per_network

    arch = network.architecture()
    siamese = z = None
    if pretrained_state is not None and k > 0:
        # band counts of these inputs: mmsiam:evaluate passes one modality subset's weights
        siamese = pretrained_siamese(pretrained_state, dict(pretrained_architecture,
                                                            band_counts=source.band_counts))
        z = pretrained_z(siamese.projections, siamese.encoder, source, rows, cols)
    if spectra is None:
        bands = pixel_spectra(source, rows, cols, arch["patch_size"], context)
    else:
        bands = spectra if context else spectra[:, :spectra.shape[1] // 2]
    path = fit_spectral_path(bands, z, targets, arch["n_classes"], model, k, calibrate)
    combined = SpectralFusionClassifier(**arch, classifier=classifier, band_context=context,
                                        z_components=len(path["z_projection"]),
                                        network_weight=network_weight, networks=1 + len(members),
                                        test_time_flips=test_time_flips and classifier != "linear",
                                        views_per_network=shared_views_per_network(1 + len(members)))
    combined.load_state_dict(network.state_dict(), strict=False)  # g's own weights, all of them
    for own, member in zip(combined.members, members):
        own.load_state_dict(member.state_dict())
    combined.set_spectral_path(path, siamese)
    return combined.eval()


def spectral_path_alone(model):
    """The ``'linear'`` twin of a trained ``'ensemble'`` classifier: the same spectral path with the
    same fitted weights, no network run (what ``CLASSIFIER=linear`` fits on the same pixels)."""
    from ...models.network import classifier_from_architecture

    twin = classifier_from_architecture(dict(model.architecture(), classifier="linear", test_time_flips=False))
    twin.load_state_dict(model.state_dict())
    return twin.to(next(model.parameters()).device).eval()


def spectral_description(architecture: dict) -> str:
    """What a saved classifier's spectral path reads, in words."""
    bands = sum(architecture["band_counts"])
    what = f"a shrinkage LDA (one covariance for all classes) on the centre pixel's {bands} bands"
    if architecture.get("band_context"):
        what += f" and the {architecture['patch_size']}×{architecture['patch_size']} patch's mean spectrum"
    if architecture.get("z_components"):
        what += f" and {architecture['z_components']} principal components of the pretrained z"
    return what


def flips_description(networks: int, views_per_network: int = 8) -> str:
    """How a classifier with test-time flips looks at each patch, in words (after 'network(s)')."""
    if views_per_network >= 8:
        return "each over the 8 flips and quarter turns of the patch"
    return (f"over the 8 flips and quarter turns of the patch, shared out between the {networks} networks "
            f"({views_per_network} views each)")
