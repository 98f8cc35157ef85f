"""Where the demo's pretraining spends its time, QGIS-free (the core job mmsiam:pretrain runs),
under cProfile; plus torch's build/threads and a plain conv2d timing, to compare releases
(docs/compatibility.md, "pretraining is slower on trixie/sid").

    .venv/bin/python benchmarks/profile_pretrain.py [EPOCHS] [--qgis]   (default 2; the demo's data)

--qgis: start a QgsApplication in the process first and import torch after it, as in
qgis_process (the libraries QGIS loads come first); the OpenMP/BLAS libraries mapped in the
process are listed.
"""

import cProfile
import os
import platform
import pstats
import sys
import tempfile
import time

import plugin_path  # noqa: F401 (makes the repository importable as multimodal_siamese)

if "--qgis" in sys.argv[1:]:  # QGIS's libraries first, torch after them, as in qgis_process
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    APP = QgsApplication([], False)
    APP.initQgis()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from multimodal_siamese.core.io.inputs import GridOptions  # noqa: E402
from multimodal_siamese.core.io.raster import ModalityInput  # noqa: E402
from multimodal_siamese.core.jobs.pretrain_run import pretrain_job  # noqa: E402
from multimodal_siamese.core.learn.pretraining import PretrainConfig  # noqa: E402
from multimodal_siamese.core.progress import Progress  # noqa: E402

DATA = os.path.join(plugin_path.ROOT, "data", "stars", "tif")


def conv_timing(repeats=20) -> float:
    """Seconds per forward+backward of one 3×3 conv on a 512×64×8×8 batch (float32)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(512, 64, 8, 8)
    conv(x).sum().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        conv(x).sum().backward()
    return (time.perf_counter() - start) / repeats


def threading_libraries() -> list:
    with open("/proc/self/maps", encoding="utf-8") as maps:
        paths = {line.split()[-1] for line in maps if "/" in line}
    return sorted(p for p in paths if any(k in os.path.basename(p) for k in ("omp", "mkl", "tbb", "blas")))


def main(epochs: int):
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}/{torch.get_num_interop_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}")
    print(torch.__config__.parallel_info())
    print("threading libraries:", *threading_libraries(), sep="\n  ")
    print(f"conv 3x3 64ch 512x8x8 fwd+bwd: {conv_timing() * 1000:.1f} ms")
    modalities = [ModalityInput("MULTISPECTRAL", os.path.join(DATA, "L7_ETMs.tif")),
                  ModalityInput("SAR", os.path.join(DATA, "olinda_dem_utm25s.tif"))]
    config = PretrainConfig(epochs=epochs, samples_per_epoch=6144, seed=42)
    with tempfile.TemporaryDirectory() as out:
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        pretrain_job(modalities, GridOptions(), config, os.path.join(out, "pre.pt"), None, Progress())
        profile.disable()
        print(f"pretraining, {epochs} epochs: {time.perf_counter() - start:.1f} s")
    stats = pstats.Stats(profile, stream=sys.stdout).strip_dirs()
    stats.sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    main(int(numbers[0]) if numbers else 2)
