"""Checkpoint file format of the plugin (a ``torch.save`` zip holding only tensors and plain data).

A checkpoint is the dict::

    {'format': 'mmsiam-checkpoint', 'format_version': 1,
     'kind': 'pretrained' | 'classifier',
     'state_dict': {name: Tensor},
     'metadata': {...plain dict/list/tuple/str/int/float/bool/None...}}

Files are opened with ``torch.load(..., weights_only=True)`` only: opening a model file must
never run code, so anything holding other pickled objects is refused. Every problem is
reported as a :class:`CheckpointError` with a sentence an analyst can act on.
"""

import os
import warnings
from collections.abc import Mapping

import torch

from .files import replace_when_complete

FORMAT = "mmsiam-checkpoint"
FORMAT_VERSION = 1

#: kind -> (how to call it in messages, algorithm that creates it)
KINDS = {
    "pretrained": ("pretraining checkpoint", "mmsiam:pretrain"),
    "classifier": ("classifier checkpoint", "mmsiam:trainclassifier"),
}

_PLAIN_SCALARS = (str, int, float, bool, type(None))


class CheckpointError(ValueError):
    """A model file that cannot be used; the message names the file and the reason."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


def _check_plain(value, where):
    """Raise TypeError naming ``where`` if ``value`` is not plain data (exact types only:
    numpy scalars subclass float/str but cannot be loaded with weights_only)."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return
    if kind is dict:
        for k, v in value.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where} has a key {k!r} of type {type(k).__name__}; "
                                f"metadata keys must be str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if kind in (list, tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {kind.__module__}.{kind.__qualname__}; metadata may only hold "
                    f"dict/list/tuple/str/int/float/bool/None (convert numpy values with "
                    f".tolist() or float(); tensors belong in the state dict)")


def save_checkpoint(path, kind, state_dict, metadata):
    """Write a checkpoint atomically (temporary file in the same folder, then ``os.replace``).

    Raises ValueError for an unknown ``kind``, TypeError (naming the key path) for anything
    that is not plain data in ``metadata`` or not a tensor in ``state_dict``. On any failure
    the temporary file is removed and an existing file at ``path`` is left untouched.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    for k, v in state_dict.items():
        if type(k) is not str or not isinstance(v, torch.Tensor):
            raise TypeError(f"state_dict[{k!r}] must be a tensor under a str key, "
                            f"got {type(v).__name__}")
    if type(metadata) is not dict:
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    _check_plain(metadata, "metadata")

    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
               "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
               "metadata": metadata}
    with replace_when_complete(os.path.abspath(os.fspath(path))) as tmp:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())


def _fail(path, reason):
    return CheckpointError(f"Model file '{path}' {reason}", path)


def load_checkpoint(path, expected_kind=None, needed_by=None):
    """Open a checkpoint safely (``weights_only=True``) and check its format and kind.

    ``expected_kind``: 'pretrained' or 'classifier' (None accepts both); ``needed_by`` names
    the step for the kind-mismatch message (e.g. "the classify algorithm").
    Returns the checkpoint dict. Raises :class:`CheckpointError` for every unusable file.
    """
    if expected_kind is not None and expected_kind not in KINDS:
        raise ValueError(f"expected_kind must be one of {sorted(KINDS)} or None, "
                         f"got {expected_kind!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise _fail(path, "does not exist.")
    if not os.path.isfile(path):
        raise _fail(path, "is not a file.")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise _fail(path, f"could not be read ({e.strerror or e}).") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. pickle-protocol warnings on foreign files
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- any failure means "unusable file"
        if "Weights only load failed" in str(e):
            raise _fail(path, "contains Python objects that could run code, so it was not "
                              "opened. Only use model files created by this plugin.") from None
        raise _fail(path, "is not a valid model checkpoint: it is corrupt or truncated "
                          "(e.g. an interrupted copy or download).") from None

    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor)
                                                   for v in ckpt.values()):
            what = "a bare PyTorch state dict"
        else:
            what = "a PyTorch file of another kind"
        raise _fail(path, f"is not a checkpoint of this plugin ({what}). Use a model file "
                          f"created by {KINDS['pretrained'][1]} or {KINDS['classifier'][1]}.")
    version = ckpt.get("format_version")
    if type(version) is not int or version < 1:
        raise _fail(path, f"has an invalid format version ({version!r}); the file is corrupt.")
    if version > FORMAT_VERSION:
        raise _fail(path, f"was written by a newer version of the plugin (checkpoint format "
                          f"{version}; this version reads up to {FORMAT_VERSION}). "
                          f"Update the plugin to open it.")
    kind = ckpt.get("kind")
    if kind not in KINDS or not isinstance(ckpt.get("state_dict"), dict) \
            or not isinstance(ckpt.get("metadata"), dict) \
            or not all(isinstance(v, torch.Tensor) for v in ckpt["state_dict"].values()):
        raise _fail(path, "is an incomplete or damaged checkpoint (kind, weights or "
                          "metadata missing).")
    if expected_kind is not None and kind != expected_kind:
        have, want = KINDS[kind][0], KINDS[expected_kind]
        raise _fail(path, f"is a {have}; {needed_by or 'this step'} needs a {want[0]} "
                          f"from {want[1]}.")
    return ckpt
