"""CUDA with torch imported as the plugin imports it inside QGIS (``RTLD_DEEPBIND``).

Inside ``qgis`` and ``qgis_process`` a system BLAS is already among the process's global symbols,
so ``core.runtime.torch_loading.import_torch`` imports torch with ``RTLD_DEEPBIND``
(docs/compatibility.md, "torch's BLAS inside QGIS"). This checks that torch's CUDA build still
works that way on a GPU, and gives the same results as a plain import. QGIS is not on the GPU
machine, so each case is a child process that recreates the QGIS situation by loading Debian's
reference BLAS (``libblas.so.3``, carried from a Debian machine) with ``RTLD_GLOBAL`` first:

- ``plain``: a clean process, plain ``import torch`` (the reference);
- ``deepbind``: the system BLAS global first, then ``import_torch()`` (the plugin's path);
- ``global-plain``: the system BLAS global first, then a plain import
  (``MMSIAM_TORCH_DEEPBIND=0``): the problem the fix is for.

Each child computes a float32 4096 × 512 → 2048 linear layer on the CPU and on CUDA (digests and
CPU time), then, on CUDA with deterministic algorithms, a short pretraining (f, g, eq. (2)) and the
default classifier (three networks + LDA) on real Potsdam pixels, and the classifier's
accuracy on held-out labelled pixels. The parent compares the children.

    .venv/bin/python benchmarks/cuda_deepbind_check.py --export DIR/potsdam_arrays.npz   # needs GDAL
    python3 benchmarks/cuda_deepbind_check.py --arrays DIR/potsdam_arrays.npz --blas DIR/libblas.so.3 --out OUT
"""

import argparse
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plugin_path import ROOT  # noqa: E402  (makes multimodal_siamese importable)

from multimodal_siamese.core.runtime.torch_loading import global_blas_loaded, import_torch  # noqa: E402

CASES = ("plain", "deepbind", "global-plain")


def export(path):
    """Potsdam's normalised VNIR + SWIR arrays, valid mask and labelled pixels (needs GDAL)."""
    from cuda_check import potsdam_scene

    arrays, valid, samples = potsdam_scene()
    np.savez_compressed(path, vnir=arrays[0], swir=arrays[1], valid=valid, rows=samples.rows,
                        cols=samples.cols, class_index=samples.class_index)
    print(f"{[a.shape for a in arrays]}, {len(samples.rows)} labelled pixels -> {path}")


def digest(tensor):
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def weights_digest(model):
    import torch

    return digest(torch.cat([p.flatten() for p in model.state_dict().values() if p.is_floating_point()]))


def child(case, arrays_path, blas, device="cuda"):
    report = {"case": case}
    if case != "plain":
        ctypes.CDLL(blas, mode=ctypes.RTLD_GLOBAL)  # what qgis / qgis_process hold before Python starts
    report["global_blas_before_import"] = global_blas_loaded()
    if case == "global-plain":
        os.environ["MMSIAM_TORCH_DEEPBIND"] = "0"
    torch = import_torch()
    report["torch"] = torch.__version__
    report["cuda_available"] = torch.cuda.is_available()
    if device == "cuda" and not torch.cuda.is_available():
        return report
    report["gpu"] = torch.cuda.get_device_name(0) if device == "cuda" else "none (dry run on cpu)"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 512, generator=generator)
    w = torch.randn(2048, 512, generator=generator)
    torch.nn.functional.linear(x, w)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        cpu = torch.nn.functional.linear(x, w)
        times.append(time.perf_counter() - started)
    report["cpu_linear_seconds"] = float(np.median(times))
    report["cpu_linear_digest"] = digest(cpu)
    report["cuda_linear_digest"] = digest(torch.nn.functional.linear(x.to(device), w.to(device)))

    from multimodal_siamese.core.learn.finetune import ClassifierConfig, predict_samples, train_classifier
    from multimodal_siamese.core.learn.pretraining import PretrainConfig, pretrain

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    data = np.load(arrays_path)
    arrays, valid = [data["vnir"], data["swir"]], data["valid"]
    started = time.perf_counter()
    pre = pretrain(arrays, valid, PretrainConfig(epochs=3, samples_per_epoch=4096, seed=1, device=device,
                                                 precision="float32"))
    report["pretrain_seconds"] = time.perf_counter() - started
    report["pretrain_device"] = pre.device
    report["pretrain_loss"] = [float(v) for v in pre.loss_history]
    report["pretrain_digest"] = weights_digest(pre.model)

    rows, cols, y = data["rows"], data["cols"], data["class_index"]
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(y == k), max(1, round(0.05 * (y == k).sum())),
                                       replace=False) for k in np.unique(y)])
    test = np.setdiff1d(np.arange(len(y)), train)
    started = time.perf_counter()
    result = train_classifier(arrays, rows[train], cols[train], y[train], int(y.max()) + 1,
                              ClassifierConfig(device=device, seed=1),
                              pre.model.state_dict(), pre.model.architecture())
    report["classifier_seconds"] = time.perf_counter() - started
    report["classifier_device"] = result.device
    report["classifier_networks"] = 1 + len(getattr(result.model, "members", []))
    predicted, _ = predict_samples(result.model, arrays, rows[test], cols[test], device=device)
    report["classifier_oa_random_split"] = float((predicted == y[test]).mean())
    report["classifier_digest"] = weights_digest(result.model)
    report["train_pixels"], report["test_pixels"] = int(len(train)), int(len(test))
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--export")
    parser.add_argument("--arrays")
    parser.add_argument("--blas", default="/usr/lib/x86_64-linux-gnu/blas/libblas.so.3")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out"))
    parser.add_argument("--child", choices=CASES)
    parser.add_argument("--device", default="cuda", help="cpu only for a dry run of this script")
    args = parser.parse_args()
    if args.export:
        return export(args.export)
    if args.child:
        print(json.dumps(child(args.child, args.arrays, os.path.abspath(args.blas), args.device)))
        return
    environment = dict(os.environ, CUBLAS_WORKSPACE_CONFIG=":4096:8", PYTHONHASHSEED="0")
    reports = {}
    for case in CASES:
        done = subprocess.run([sys.executable, __file__, "--child", case, "--arrays", args.arrays,
                               "--blas", args.blas, "--device", args.device],
                              capture_output=True, text=True, env=environment)
        if done.returncode:
            reports[case] = {"case": case, "failed": done.returncode, "stderr": done.stderr[-3000:]}
        else:
            reports[case] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(reports[case]), flush=True)
    plain, deep, problem = (reports[c] for c in CASES)
    keys = ("cpu_linear_digest", "cuda_linear_digest", "pretrain_loss", "pretrain_digest", "classifier_digest")
    verdict = {
        "deepbind_equals_plain": {k: deep.get(k) == plain.get(k) and k in plain for k in keys},
        "global_plain_cpu_digest_differs": problem.get("cpu_linear_digest") != plain.get("cpu_linear_digest"),
        "cpu_linear_seconds": {c: reports[c].get("cpu_linear_seconds") for c in CASES},
    }
    print(json.dumps(verdict, indent=1))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cuda_deepbind_check.json"), "w") as f:
        json.dump({"reports": reports, "verdict": verdict}, f, indent=1)


if __name__ == "__main__":
    main()
