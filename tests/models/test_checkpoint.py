"""Checkpoint format: round trip, safe loading (weights_only) and atomic writes."""

import builtins
import os
import pickle

import numpy as np
import pytest
import torch

from multimodal_siamese.models import checkpoint as ckpt_mod
from multimodal_siamese.models.checkpoint import (
    FORMAT, FORMAT_VERSION, CheckpointError, load_checkpoint, save_checkpoint)
from multimodal_siamese.models.network import FusionClassifier


def _model():
    torch.manual_seed(0)
    return FusionClassifier([3, 2], 5, n_classes=4, dim=16)


def _save(path, kind="classifier", metadata=None):
    model = _model()
    meta = metadata if metadata is not None else {
        "architecture": model.architecture(), "classes": {1: "water", 2: "road"},
        "band_means": [0.5, 1.5], "created": "2024-08-12", "epochs": 3, "ok": True, "x": None,
        "pair": (1, 2)}
    save_checkpoint(path, kind, model.state_dict(), meta)
    return model, meta


def test_round_trip(tmp_path):
    path = tmp_path / "clf.pt"
    model, meta = _save(path)
    ck = load_checkpoint(path, expected_kind="classifier")
    assert ck["format"] == FORMAT and ck["format_version"] == FORMAT_VERSION
    assert ck["kind"] == "classifier" and ck["metadata"] == meta
    rebuilt = FusionClassifier.from_architecture(ck["metadata"]["architecture"])
    rebuilt.load_state_dict(ck["state_dict"])
    for k, v in model.state_dict().items():
        assert torch.equal(v, rebuilt.state_dict()[k])
    assert load_checkpoint(str(path))["kind"] == "classifier"  # no expected kind
    assert os.listdir(tmp_path) == ["clf.pt"]


def test_kind_mismatch_refused(tmp_path):
    path = tmp_path / "pre.pt"
    _save(path, kind="pretrained")
    with pytest.raises(CheckpointError, match="pretraining checkpoint.*classifier checkpoint "
                                              "from mmsiam:trainclassifier") as err:
        load_checkpoint(path, expected_kind="classifier", needed_by="the classify algorithm")
    assert "pre.pt" in str(err.value) and "the classify algorithm" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist") as err:
        load_checkpoint(tmp_path / "nope.pt")
    assert "nope.pt" in str(err.value)


def test_plain_torch_file_refused(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"a": 1}, path)
    with pytest.raises(CheckpointError, match="not a checkpoint of this plugin") as err:
        load_checkpoint(path)
    assert "plain.pt" in str(err.value)
    torch.save(_model().state_dict(), path)
    with pytest.raises(CheckpointError, match="bare PyTorch state dict"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"\x80\x02}q\x00."])
def test_garbage_refused(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(path)


def test_truncated_file_refused(tmp_path):
    path = tmp_path / "clf.pt"
    _save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as err:
        load_checkpoint(cut)
    assert "cut.pt" in str(err.value)


def test_newer_format_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION + 1, "kind": "classifier",
                "state_dict": {}, "metadata": {}}, path)
    with pytest.raises(CheckpointError, match="newer version"):
        load_checkpoint(path)


class _Evil:
    """Unpickling this creates a marker file (stands in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch", "pickle2", "pickle_default"])
def test_malicious_pickle_not_executed(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": FORMAT, "format_version": 1, "kind": "classifier",
               "state_dict": {}, "metadata": {"x": _Evil(marker)}}
    if writer == "torch":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2 if writer == "pickle2" else None)
    with pytest.raises(CheckpointError, match="evil.pt") as err:
        load_checkpoint(path)
    assert not marker.exists()
    if writer != "pickle_default":  # the safe loader identified it as code-bearing
        assert "could run code" in str(err.value)
    # sanity: the payload really is live -- an unsafe load would have run it
    if writer == "torch":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as f:
            pickle.load(f)
    assert marker.exists()


def test_numpy_in_metadata_rejected(tmp_path):
    path = tmp_path / "m.pt"
    for bad, where in [({"means": np.zeros(3)}, "metadata['means']"),
                       ({"a": [1, {"b": np.float64(1.0)}]}, "metadata['a'][1]['b']"),
                       ({"s": np.str_("x")}, "metadata['s']"),
                       ({"t": torch.zeros(2)}, "metadata['t']")]:
        with pytest.raises(TypeError) as err:
            save_checkpoint(path, "classifier", {}, bad)
        assert where in str(err.value)
    with pytest.raises(ValueError):
        save_checkpoint(path, "weights", {}, {})
    assert not path.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize("fail_at", ["save", "replace"])
def test_atomic_save_cleans_up_on_failure(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "clf.pt"
    _save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    if fail_at == "save":
        monkeypatch.setattr(ckpt_mod.torch, "save", boom)
    else:
        monkeypatch.setattr(ckpt_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(path, metadata={"epochs": 99})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["clf.pt"]  # no temporary file left behind
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert load_checkpoint(path)["metadata"]["epochs"] == 3
