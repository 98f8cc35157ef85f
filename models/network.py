"""Multimodal Siamese network (Liu et al., IEEE GRSL 2024, Sec. II), in the style of SimSiam.

Notation of the paper:

* ``P_k``  per-modality *projection convolution* (16 kernels of 3x3) mapping the ``C_k`` bands of
  modality ``k`` (hyperspectral H, multispectral M, SAR S, ...) to a common 16-channel space;
* ``f``    the shared encoder (a slimmed MobileNetV2), ``z_k = f(P_k(x_k))``;
* ``h``    the predictor (FC -> BN -> ReLU -> FC), ``p_k = h(z_k)``; trained with eq. (2),
  see :func:`.losses.multimodal_siamese_loss`;
* ``g``    the downstream classifier of eq. (3), ``g = linear(f(P_H(x_H) + P_M(x_M) + P_S(x_S)))``
  (early fusion: the projected modalities are summed before the encoder).

DESIGN CONSTRAINT -- exact receptive field, no padding, stride 1 everywhere
------------------------------------------------------------------------------
Every convolution in ``P_k`` and ``f`` is unpadded ("valid") with stride 1: the 3x3 projection
removes 1 pixel per side, each inverted residual block removes 1 more (its depthwise 3x3),
and there are ``(patch_size - 3) // 2`` blocks. Together they see *exactly* one
``patch_size x patch_size`` window, and a ``patch_size`` input gives a 1x1 output.

Consequently the very same network can be run *densely* over a whole raster tile of any size
``H x W`` and returns an ``(H - patch_size + 1) x (W - patch_size + 1)`` map whose value at each
position equals -- in ``eval()`` mode, where BatchNorm uses its running statistics -- the result
of the per-patch forward of the patch centred there. Training uses per-patch batches; inference
uses dense tiles. Do not add padding, strides, pooling or any layer mixing positions (e.g.
global pooling over more than one patch) without giving up this equivalence, which the tests
check pixel by pixel.
"""

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .augment import dihedral, undo_dihedral

#: The D4 elements (``augment.dihedral``) in the order the networks of an ensemble share them out
#: at test time: identity, horizontal flip, half turn, vertical flip, then the quarter turns and
#: the diagonal reflections. Each consecutive pair is an element and its mirror image; the first
#: four are a subgroup (the flips and the half turn), the last four its other coset.
D4_ORDER = (0, 4, 2, 6, 1, 5, 3, 7)


def view_sets(networks, views_per_network):
    """The D4 elements each network of an ensemble looks at with test-time flips: network ``i``
    takes the next ``views_per_network`` elements of :data:`D4_ORDER` after network ``i - 1``'s
    (wrapping round), so that ``ceil(8 / networks)`` views each cover the 8 between them."""
    return [tuple(D4_ORDER[(i * views_per_network + j) % 8] for j in range(views_per_network))
            for i in range(networks)]


def shared_views_per_network(networks):
    """Views per network when the networks share the 8 out between them (new models)."""
    return -(-8 // max(int(networks), 1))


#: Default output widths of the inverted residual blocks (first ``n`` are used; 160 beyond).
DEFAULT_WIDTHS = (24, 24, 32, 32, 64, 64, 96, 96, 128, 128)
_WIDEST = 160


def _check_patch_size(patch_size):
    if isinstance(patch_size, bool) or not isinstance(patch_size, int):
        raise ValueError(f"patch_size must be an odd integer >= 3, got {patch_size!r}")
    if patch_size < 3 or patch_size % 2 == 0:
        raise ValueError(
            f"patch_size must be an odd integer >= 3 (the patch is centred on a pixel), "
            f"got {patch_size}")
    return patch_size


def n_blocks_for(patch_size):
    """Number of inverted residual blocks so that 3x3 projection + blocks see ``patch_size``."""
    return (_check_patch_size(patch_size) - 3) // 2


def default_widths(n_blocks):
    """First ``n_blocks`` of (24, 24, 32, 32, 64, 64, 96, 96, 128, 128), then 160s."""
    return list(DEFAULT_WIDTHS[:n_blocks]) + [_WIDEST] * max(0, n_blocks - len(DEFAULT_WIDTHS))


def _flatten_1x1(z):
    """(N, C, 1, 1) -> (N, C); refuses larger maps (those are dense outputs, not patches)."""
    if z.dim() != 4 or z.shape[-2:] != (1, 1):
        raise ValueError(
            f"expected a 1x1 spatial output for per-patch input, got shape {tuple(z.shape)}; "
            f"inputs must be exactly patch_size x patch_size (use the dense forward otherwise)")
    return z.flatten(1)


class ProjectionConv(nn.Sequential):
    """Projection convolution P_k of one modality: valid 3x3 conv -> BN -> ReLU6."""

    def __init__(self, in_bands, out_channels=16):
        super().__init__(
            nn.Conv2d(in_bands, out_channels, 3, padding=0, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True))
        self.in_bands = in_bands
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """MobileNetV2 block with valid convolutions: 1x1 expand, 3x3 depthwise, 1x1 linear.

    The spatial size shrinks by 2; when ``in_ch == out_ch`` the input, centre-cropped by one
    pixel per side, is added (the pixel it is added to sees that input pixel at its centre).
    """

    def __init__(self, in_ch, out_ch, expand_ratio):
        super().__init__()
        hidden = in_ch * expand_ratio
        layers = []
        if expand_ratio != 1:  # as in MobileNetV2, no expansion layer when t == 1
            layers += [nn.Conv2d(in_ch, hidden, 1, bias=False),
                       nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, padding=0, groups=hidden, bias=False),  # depthwise
                   nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, out_ch, 1, bias=False),  # linear bottleneck
                   nn.BatchNorm2d(out_ch)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = in_ch == out_ch

    def forward(self, x):
        out = self.conv(x)
        if self.use_residual:
            out = out + x[:, :, 1:-1, 1:-1]
        return out


class Encoder(nn.Module):
    """Shared encoder f: slimmed MobileNetV2 of valid convolutions, then 1x1 conv + BN -> z.

    Takes the 16-channel output of a projection convolution. ``forward`` is dense: an
    ``(N, C, H, W)`` input gives ``(N, dim, H - patch_size + 3, W - patch_size + 3)``;
    :meth:`embed` is the per-patch form returning ``(N, dim)``.
    """

    def __init__(self, patch_size, in_channels=16, dim=2048, widths=None, expand_ratio=4):
        super().__init__()
        n = n_blocks_for(patch_size)
        widths = default_widths(n) if widths is None else [int(w) for w in widths]
        if len(widths) != n:
            raise ValueError(f"patch_size {patch_size} needs {n} block widths, got {len(widths)}")
        blocks, ch = [], in_channels
        for w in widths:
            blocks.append(InvertedResidual(ch, w, expand_ratio))
            ch = w
        self.blocks = nn.Sequential(*blocks)
        # output layer: z has no activation (as SimSiam's BN-ended projector)
        self.head = nn.Sequential(nn.Conv2d(ch, dim, 1, bias=False), nn.BatchNorm2d(dim))
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.dim = dim
        self.widths = widths
        self.expand_ratio = expand_ratio

    def forward(self, x):
        need = self.patch_size - 2  # the projection already took 1 pixel per side
        if x.shape[-1] < need or x.shape[-2] < need:
            raise ValueError(f"encoder input {tuple(x.shape[-2:])} is smaller than the "
                             f"{need}x{need} needed for patch_size {self.patch_size}")
        return self.head(self.blocks(x))

    def embed(self, x):
        """Per-patch z: ``(N, C, patch_size - 2, patch_size - 2)`` -> ``(N, dim)``."""
        return _flatten_1x1(self.forward(x))


class Predictor(nn.Sequential):
    """Predictor h: FC -> BN -> ReLU -> FC (bottleneck ``hidden``), as SimSiam."""

    def __init__(self, dim=2048, hidden=512):
        super().__init__(
            nn.Linear(dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),  # hidden layer
            nn.Linear(hidden, dim))  # output layer


def _check_band_counts(band_counts):
    counts = list(band_counts)
    if not counts or any(isinstance(b, bool) or int(b) != b or b < 1 for b in counts):
        raise ValueError(f"band_counts must be a non-empty list of positive integers, "
                         f"got {band_counts!r}")
    return [int(b) for b in counts]


class _ArchitectureMixin:
    """``architecture()`` -> plain dict; ``from_architecture(d)`` rebuilds the model."""

    _ARCH_KEYS = ()

    def architecture(self):
        return {k: (list(v) if isinstance(v, (list, tuple)) else v)
                for k, v in self._arch.items()}

    @classmethod
    def from_architecture(cls, d):
        unknown = sorted(set(d) - set(cls._ARCH_KEYS))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} architecture keys: {unknown}")
        return cls(**d)


class MultimodalSiamese(_ArchitectureMixin, nn.Module):
    """Pretraining network: projections P_k, shared encoder f, predictor h (paper Fig. 1).

    ``forward(inputs)`` returns ``(z, p)``: lists with ``z_k = f(P_k(x_k))`` and
    ``p_k = h(z_k)``, both ``(N, dim)``. Unlike SimSiam's builder, ``z`` is *not* detached
    here: the stop-gradient is applied in :func:`.losses.multimodal_siamese_loss`.
    Each modality is a separate encoder pass, so BatchNorm sees per-modality batches.
    """

    _ARCH_KEYS = ("band_counts", "patch_size", "proj_channels", "dim", "pred_hidden",
                  "widths", "expand_ratio")

    def __init__(self, band_counts, patch_size=13, proj_channels=16, dim=2048, pred_hidden=512,
                 widths=None, expand_ratio=4):
        super().__init__()
        band_counts = _check_band_counts(band_counts)
        self.projections = nn.ModuleList(ProjectionConv(b, proj_channels) for b in band_counts)
        self.encoder = Encoder(patch_size, proj_channels, dim, widths, expand_ratio)
        self.predictor = Predictor(dim, pred_hidden)
        self._arch = dict(band_counts=band_counts, patch_size=patch_size,
                          proj_channels=proj_channels, dim=dim, pred_hidden=pred_hidden,
                          widths=list(self.encoder.widths), expand_ratio=expand_ratio)

    def forward(self, inputs, projection_index=None):
        """
        inputs: list of ``(N, C_k, patch_size, patch_size)`` tensors, one per view.
        projection_index: projection used for each input (default: ``[0, 1, ..., n-1]``);
            ``[0, 0]`` pushes two augmented views of a single modality through P_0.
        Returns ``(z, p)``, two lists of ``(N, dim)`` tensors.
        """
        if projection_index is None:
            if len(inputs) != len(self.projections):
                raise ValueError(f"got {len(inputs)} inputs for {len(self.projections)} "
                                 f"modalities; pass projection_index to map views to modalities")
            projection_index = range(len(inputs))
        projection_index = list(projection_index)
        if len(projection_index) != len(inputs):
            raise ValueError("projection_index must have one entry per input")
        z = [self.encoder.embed(self.projections[i](x)) for i, x in zip(projection_index, inputs)]
        p = [self.predictor(zk) for zk in z]
        return z, p

    def dense_maps(self, inputs, projection_index=None):
        """Dense z maps ``f(P_k(x_k))``: inputs ``(B, C_k, S + P - 1, S + P - 1)`` crops ->
        list of ``(B, dim, S, S)``: the z of every pixel of the crop at the cost of one pass."""
        projection_index = range(len(inputs)) if projection_index is None else projection_index
        return [self.encoder(self.projections[i](x)) for i, x in zip(projection_index, inputs)]

    def predict_positions(self, maps, mask):
        """Dense maps -> (z, p) lists over the positions where ``mask`` (B, S, S) is True."""
        flat = mask.reshape(-1)
        z = [m.permute(0, 2, 3, 1).reshape(-1, m.shape[1])[flat] for m in maps]
        return z, [self.predictor(zk) for zk in z]


def _fuse_conv_bn(sequence):
    """nn.Sequential with every Conv2d directly followed by BatchNorm2d fused (eval mode)."""
    modules, fused, i = list(sequence.children()), [], 0
    while i < len(modules):
        if (isinstance(modules[i], nn.Conv2d) and i + 1 < len(modules)
                and isinstance(modules[i + 1], nn.BatchNorm2d)):
            fused.append(fuse_conv_bn_eval(modules[i], modules[i + 1]))
            i += 2
        else:
            fused.append(modules[i])
            i += 1
    return nn.Sequential(*fused)


class FusionClassifier(_ArchitectureMixin, nn.Module):
    """Downstream classifier of eq. (3): ``g(z_H, z_M, z_S) = linear(f(z_H + z_M + z_S))``.

    Here ``z_H, z_M, z_S`` are the outputs of the projection convolutions (early fusion by
    summation), f is the (pretrained) shared encoder and ``linear`` the only new layer.
    """

    _ARCH_KEYS = ("band_counts", "patch_size", "n_classes", "proj_channels", "dim",
                  "widths", "expand_ratio")

    def __init__(self, band_counts, patch_size, n_classes, proj_channels=16, dim=2048,
                 widths=None, expand_ratio=4):
        super().__init__()
        band_counts = _check_band_counts(band_counts)
        if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
        n_classes = int(n_classes)
        self.projections = nn.ModuleList(ProjectionConv(b, proj_channels) for b in band_counts)
        self.encoder = Encoder(patch_size, proj_channels, dim, widths, expand_ratio)
        self.linear = nn.Linear(dim, n_classes)
        self._arch = dict(band_counts=band_counts, patch_size=patch_size, n_classes=n_classes,
                          proj_channels=proj_channels, dim=dim,
                          widths=list(self.encoder.widths), expand_ratio=expand_ratio)

    def _features(self, inputs):
        """Dense f(sum_k P_k(x_k)): ``(N, dim, H - patch_size + 1, W - patch_size + 1)``."""
        if len(inputs) != len(self.projections):
            raise ValueError(f"got {len(inputs)} inputs for {len(self.projections)} modalities")
        shapes = {tuple(x.shape[-2:]) for x in inputs}
        if len(shapes) != 1:
            raise ValueError(f"all modalities must have the same spatial size, "
                             f"got {sorted(shapes)}")
        fused = sum(proj(x) for proj, x in zip(self.projections, inputs))  # early fusion
        return self.encoder(fused)

    def forward(self, inputs):
        """Per-patch logits: inputs ``(N, C_k, P, P)`` -> ``(N, n_classes)``."""
        return self.linear(_flatten_1x1(self._features(inputs)))

    def forward_dense(self, inputs):
        """Dense logits: inputs ``(N, C_k, H, W)`` -> ``(N, n_classes, H - P + 1, W - P + 1)``.

        The linear head is applied as the equivalent 1x1 convolution on the dim-channel map.
        """
        w = self.linear.weight
        return F.conv2d(self._features(inputs), w.view(*w.shape, 1, 1), self.linear.bias)

    @torch.no_grad()
    def folded_head(self):
        """Eval-mode shortcut for dense prediction: encoder head (1x1 conv + BN) and the linear
        layer are all linear, so they fold into one 1x1 conv from the last block to the logits.
        Returns (weight (K, C, 1, 1), bias (K,)). Computed in float64; equal to forward_dense up
        to float rounding, and it never materialises the dim-channel feature map."""
        conv, bn = self.encoder.head
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        head_w = conv.weight.double().flatten(1) * scale[:, None]           # (dim, C)
        head_b = bn.bias.double() - bn.running_mean.double() * scale        # (dim,)
        w = self.linear.weight.double() @ head_w                             # (K, C)
        b = self.linear.weight.double() @ head_b + self.linear.bias.double()
        return w.float()[:, :, None, None], b.float()

    def inference_copy(self):
        """A copy for fast dense prediction: each conv+BN pair fused into one conv (eval mode)
        and channels-last memory layout (about 2x faster on CPU). Use with
        :meth:`forward_dense_folded` and channels-last inputs; results equal to float rounding."""
        fast = copy.deepcopy(self).eval()
        for k, projection in enumerate(fast.projections):
            fast.projections[k] = _fuse_conv_bn(projection)
        for block in fast.encoder.blocks:
            block.conv = _fuse_conv_bn(block.conv)
        return fast.to(memory_format=torch.channels_last)

    def forward_dense_folded(self, inputs, folded=None):
        """Dense logits like :meth:`forward_dense` (eval mode only), through :meth:`folded_head`."""
        if self.training:
            raise RuntimeError("forward_dense_folded needs eval mode (BatchNorm running statistics)")
        weight, bias = folded if folded is not None else self.folded_head()
        fused = sum(proj(x) for proj, x in zip(self.projections, inputs))  # early fusion
        return F.conv2d(self.encoder.blocks(fused), weight, bias)

    def load_pretrained(self, siamese_state_dict):
        """Copy P_k and f from a :class:`MultimodalSiamese` state dict (h is discarded).

        Accepts a state dict (or the module itself). Raises ``ValueError`` with an explicit
        message when the number of modalities, a modality's band count or any shape differs.
        Returns ``{'loaded': [keys], 'ignored': [keys]}``.
        """
        sd = siamese_state_dict.state_dict() if isinstance(siamese_state_dict, nn.Module) \
            else siamese_state_dict
        n_pre = len({k.split(".")[1] for k in sd if k.startswith("projections.")})
        if n_pre != len(self.projections):
            raise ValueError(f"the pretrained model has {n_pre} modalities but the classifier "
                             f"has {len(self.projections)}")
        for i, proj in enumerate(self.projections):
            key = f"projections.{i}.0.weight"
            if key not in sd:
                raise ValueError(f"pretrained weights lack '{key}' (not a MultimodalSiamese?)")
            pre_bands = sd[key].shape[1]
            if pre_bands != proj.in_bands:
                raise ValueError(f"modality {i} has {proj.in_bands} bands in the classifier but "
                                 f"{pre_bands} bands in the pretrained model")
        own = self.state_dict()
        wanted = [k for k in own if k.startswith(("projections.", "encoder."))]
        missing = [k for k in wanted if k not in sd]
        if missing:
            raise ValueError(f"pretrained weights lack {len(missing)} entries, e.g. {missing[0]!r}"
                             f" (different patch size or encoder widths?)")
        for k in wanted:
            if sd[k].shape != own[k].shape:
                raise ValueError(f"pretrained '{k}' has shape {tuple(sd[k].shape)} but the "
                                 f"classifier needs {tuple(own[k].shape)} (different patch size, "
                                 f"dim or encoder widths?)")
        extra = [k for k in sd if k.startswith(("projections.", "encoder.")) and k not in own]
        if extra:
            raise ValueError(f"pretrained weights have {len(extra)} unexpected entries, e.g. "
                             f"{extra[0]!r} (different patch size or encoder widths?)")
        with torch.no_grad():
            for k in wanted:
                own[k].copy_(sd[k])
        return {"loaded": wanted, "ignored": [k for k in sd if k not in own]}


class SpectralFusionClassifier(FusionClassifier):
    """Eq. (3)'s g beside a *spectral linear path*, their class probabilities averaged.

    The spectral path is a linear model (fitted by scikit-learn, stored here as tensors) on
    ``[(s - band_mean) / band_scale ‖ (z - z_mean) z_projection^T]``: ``s`` is the centre pixel's
    bands of every modality (``band_context``: followed by the patch's mean spectrum), ``z`` the
    concatenated ``z_k = f0(P0_k(x_k))`` of a frozen copy of the *pretrained* projections and
    encoder, ``z_projection`` its whitened principal axes (``z_components`` of them; 0: no z).

    ``classifier``: ``'ensemble'`` → ``log(w softmax(g) + (1 - w) softmax(linear))`` with
    ``w = network_weight``; ``'linear'`` → the spectral path alone (g is not run).

    ``networks``: how many fine-tunings of g (from different seeds) the ensemble holds; their
    softmax probabilities are averaged into ``softmax(g)`` above. The first is this module's own
    projections, encoder and linear layer (what ``mmsiam:embed`` reads); the others are
    ``members``, each a whole :class:`FusionClassifier`.

    ``test_time_flips``: each network also sees flipped and turned copies of every patch (their
    centre stays the centre pixel), ``views_per_network`` of the 8 elements of D4 each
    (:func:`view_sets`: with 8, every network sees all 8, as in files written before the
    networks shared them out), and ``softmax(g)`` is the mean over those (network, view) pairs.
    The dense forms turn the whole input and turn each output map back, which is the same per
    pixel. The spectral path reads the centre pixel (and the patch mean), which no view changes.

    Centre pixel and patch mean are one valid P×P convolution of the inputs; principal
    components and linear model are 1×1 convolutions of maps that are themselves receptive-field
    exact. So the dense forms equal the per-patch one at every pixel, as for
    :class:`FusionClassifier`.
    """

    _ARCH_KEYS = FusionClassifier._ARCH_KEYS + ("classifier", "band_context", "z_components",
                                                "network_weight", "networks", "test_time_flips",
                                                "views_per_network")
    CLASSIFIERS = ("ensemble", "linear")

    def __init__(self, band_counts, patch_size, n_classes, proj_channels=16, dim=2048,
                 widths=None, expand_ratio=4, classifier="ensemble", band_context=False,
                 z_components=0, network_weight=0.5, networks=1, test_time_flips=False,
                 views_per_network=8):
        super().__init__(band_counts, patch_size, n_classes, proj_channels, dim, widths,
                         expand_ratio)
        if classifier not in self.CLASSIFIERS:
            raise ValueError(f"classifier must be one of {self.CLASSIFIERS}, got {classifier!r}")
        if isinstance(z_components, bool) or int(z_components) != z_components or z_components < 0:
            raise ValueError(f"z_components must be an integer >= 0, got {z_components!r}")
        if not 0 <= float(network_weight) <= 1:
            raise ValueError(f"network_weight must be in [0, 1], got {network_weight!r}")
        if isinstance(networks, bool) or int(networks) != networks or networks < 1:
            raise ValueError(f"networks must be an integer >= 1, got {networks!r}")
        if isinstance(views_per_network, bool) or int(views_per_network) != views_per_network \
                or not 1 <= views_per_network <= 8:
            raise ValueError(f"views_per_network must be an integer from 1 to 8, got {views_per_network!r}")
        self.members = nn.ModuleList(FusionClassifier(**self.architecture()) for _ in range(int(networks) - 1))
        band_counts, k = self._arch["band_counts"], int(z_components)
        if k:
            self.frozen_projections = nn.ModuleList(ProjectionConv(b, proj_channels) for b in band_counts)
            self.frozen_encoder = Encoder(patch_size, proj_channels, dim, self.encoder.widths, expand_ratio)
            self.frozen_projections.requires_grad_(False)
            self.frozen_encoder.requires_grad_(False)
        n_bands = sum(band_counts) * (2 if band_context else 1)
        n_z = len(band_counts) * dim if k else 0
        self.register_buffer("band_mean", torch.zeros(n_bands))
        self.register_buffer("band_scale", torch.ones(n_bands))
        self.register_buffer("z_mean", torch.zeros(n_z))
        self.register_buffer("z_projection", torch.zeros(k, n_z))
        self.spectral = nn.Linear(n_bands + k, self._arch["n_classes"])
        self._arch.update(classifier=classifier, band_context=bool(band_context), z_components=k,
                          network_weight=float(network_weight), networks=int(networks),
                          test_time_flips=bool(test_time_flips), views_per_network=int(views_per_network))

    def train(self, mode=True):
        """The frozen pretrained copy always uses its BatchNorm running statistics."""
        super().train(mode)
        if self._arch["z_components"]:
            self.frozen_projections.eval()
            self.frozen_encoder.eval()
        return self

    @torch.no_grad()
    def set_spectral_path(self, path, frozen=None):
        """Store a fitted spectral path (``core.learn.spectral.fit_spectral_path``'s arrays) and, when
        it uses z, the pretrained projections and encoder (a module with ``projections`` and
        ``encoder``, e.g. :class:`MultimodalSiamese`)."""
        for name in ("band_mean", "band_scale", "z_mean", "z_projection"):
            getattr(self, name).copy_(torch.as_tensor(path[name]).reshape(getattr(self, name).shape))
        self.spectral.weight.copy_(torch.as_tensor(path["weight"]))
        self.spectral.bias.copy_(torch.as_tensor(path["bias"]))
        if self._arch["z_components"]:
            self.frozen_projections.load_state_dict(frozen.projections.state_dict())
            self.frozen_encoder.load_state_dict(frozen.encoder.state_dict())

    def _centre(self, inputs):
        """Centre-pixel bands of every modality at each output position: (N, B, H-P+1, W-P+1)."""
        h = self._arch["patch_size"] // 2
        return torch.cat([x[:, :, h:x.shape[-2] - h, h:x.shape[-1] - h] for x in inputs], 1)

    def _spectra(self, inputs):
        """Centre bands (and the patch's mean spectrum) at each output position."""
        parts = [self._centre(inputs)]
        if self._arch["band_context"]:
            p = self._arch["patch_size"]
            parts.append(torch.cat([F.avg_pool2d(x, p, stride=1) for x in inputs], 1))
        return torch.cat(parts, 1)

    def spectral_dense(self, inputs):
        """Dense logits of the spectral path alone."""
        features = [(self._spectra(inputs) - self.band_mean[:, None, None]) / self.band_scale[:, None, None]]
        if self._arch["z_components"]:
            z = torch.cat([self.frozen_encoder(p(x)) for p, x in zip(self.frozen_projections, inputs)], 1)
            features.append(F.conv2d(z - self.z_mean[:, None, None], self.z_projection[:, :, None, None]))
        w = self.spectral.weight
        return F.conv2d(torch.cat(features, 1), w.view(*w.shape, 1, 1), self.spectral.bias)

    def combine(self, network_logits, spectral_logits):
        """Log of the weighted mean of both paths' probabilities (along dim 1)."""
        if self._arch["classifier"] == "linear":
            return spectral_logits
        w = self._arch["network_weight"]
        parts = [F.log_softmax(network_logits, 1) + math.log(max(w, 1e-12)),
                 F.log_softmax(spectral_logits, 1) + math.log(max(1 - w, 1e-12))]
        return torch.logsumexp(torch.stack(parts), 0)

    def _network(self, inputs, own, member, dense):
        """Logits of g: ``own(x)`` for this module's own g, ``member(i, module, x)`` for each further
        fine-tuning; with several networks or views, the log of their mean softmax probabilities.
        ``dense``: the outputs are maps, turned back after each view. None for 'linear'."""
        if self._arch["classifier"] == "linear":
            return None
        networks = 1 + len(self.members)
        sets = (view_sets(networks, self._arch["views_per_network"]) if self._arch["test_time_flips"]
                else [(0,)] * networks)
        logits = []
        for t in sorted(set().union(*sets)):  # each view of the input made once, for every network using it
            x = [dihedral(v, t) for v in inputs] if t else inputs
            views = [own(x) if i == 0 else member(i - 1, self.members[i - 1], x)
                     for i in range(networks) if t in sets[i]]
            logits += [undo_dihedral(v, t) for v in views] if t and dense else views
        if len(logits) == 1:
            return logits[0]
        return torch.logsumexp(torch.stack([F.log_softmax(l, 1) for l in logits]), 0) - math.log(len(logits))

    def forward(self, inputs):
        """Per-patch logits: inputs ``(N, C_k, P, P)`` -> ``(N, n_classes)``."""
        spectral = _flatten_1x1(self.spectral_dense(inputs))
        return self.combine(self._network(inputs, lambda x: super(SpectralFusionClassifier, self).forward(x),
                                          lambda i, m, x: m(x), dense=False), spectral)

    def forward_dense(self, inputs):
        spectral = self.spectral_dense(inputs)
        return self.combine(self._network(inputs, lambda x: super(SpectralFusionClassifier, self).forward_dense(x),
                                          lambda i, m, x: m.forward_dense(x), dense=True), spectral)

    @torch.no_grad()
    def folded_head(self):
        """The networks' folded heads (a list, one per fine-tuning), and the spectral path folded
        onto the frozen encoder's last block (per modality) and one P×P convolution of the inputs
        (centre tap, plus the patch mean spread over every tap): ``(networks, (block weights,
        input kernel, bias))``. In float64, then float32 like :meth:`FusionClassifier.folded_head`."""
        network = None if self._arch["classifier"] == "linear" else (
            [super().folded_head()] + [member.folded_head() for member in self.members])
        k, n_bands = self._arch["z_components"], self.band_mean.numel()
        p, b = self._arch["patch_size"], sum(self._arch["band_counts"])
        w = self.spectral.weight.double()
        w_bands = w[:, :n_bands] / self.band_scale.double()
        bias = self.spectral.bias.double() - w_bands @ self.band_mean.double()
        kernel = torch.zeros(w.shape[0], b, p, p, dtype=torch.float64)
        if self._arch["band_context"]:
            kernel += (w_bands[:, b:] / (p * p))[:, :, None, None]
        kernel[:, :, p // 2, p // 2] += w_bands[:, :b]
        block_weights = []
        if k:
            dim = self._arch["dim"]
            w_z = w[:, n_bands:] @ self.z_projection.double()                   # (K, modalities × dim)
            bias = bias - w_z @ self.z_mean.double()
            conv, bn = self.frozen_encoder.head
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            head_w = conv.weight.double().flatten(1) * scale[:, None]          # (dim, C)
            head_b = bn.bias.double() - bn.running_mean.double() * scale
            for m in range(len(self._arch["band_counts"])):
                w_m = w_z[:, m * dim:(m + 1) * dim]
                block_weights.append((w_m @ head_w).float()[:, :, None, None])
                bias = bias + w_m @ head_b
        return network, (block_weights, kernel.float(), bias.float())

    def inference_copy(self):
        fast = super().inference_copy()
        for i, member in enumerate(fast.members):
            fast.members[i] = member.inference_copy()
        if self._arch["z_components"]:
            for k, projection in enumerate(fast.frozen_projections):
                fast.frozen_projections[k] = _fuse_conv_bn(projection)
            for block in fast.frozen_encoder.blocks:
                block.conv = _fuse_conv_bn(block.conv)
        return fast.to(memory_format=torch.channels_last)

    def forward_dense_folded(self, inputs, folded=None):
        if self.training:
            raise RuntimeError("forward_dense_folded needs eval mode (BatchNorm running statistics)")
        network, (block_weights, kernel, bias) = folded if folded is not None else self.folded_head()
        if self._arch["band_context"]:
            spectral = F.conv2d(torch.cat(inputs, 1), kernel, bias)
        else:  # only the centre tap is non-zero: a 1×1 convolution of the centre pixels (P² times less work)
            h = self._arch["patch_size"] // 2
            spectral = F.conv2d(self._centre(inputs), kernel[:, :, h:h + 1, h:h + 1], bias)
        for p, x, w in zip(self.frozen_projections if block_weights else (), inputs, block_weights):
            spectral = spectral + F.conv2d(self.frozen_encoder.blocks(p(x)), w)
        return self.combine(self._network(
            inputs, lambda x: super(SpectralFusionClassifier, self).forward_dense_folded(x, network[0]),
            lambda i, m, x: m.forward_dense_folded(x, network[1 + i]), dense=True), spectral)


def classifier_from_architecture(architecture):
    """The classifier a checkpoint's architecture describes (older files: :class:`FusionClassifier`)."""
    cls = SpectralFusionClassifier if "classifier" in architecture else FusionClassifier
    return cls.from_architecture(architecture)
