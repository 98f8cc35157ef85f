"""Optional heavy dependencies: report what is missing, and install it (QGIS-free helpers).

The desktop installer (gui/dependencies.py) runs ``pip install --target`` into a folder of the
QGIS profile (``dependencies_folder``) rather than ``--user``: Debian/Ubuntu's Python refuses
``--user`` installs (PEP 668, externally managed), the folder survives plugin upgrades, and it
touches no other Python program. The plugin appends that folder to ``sys.path`` at load time
(``activate_folder``), after QGIS's own packages, so it never shadows what QGIS ships.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import site
import subprocess
import sys

from .torch_loading import import_torch

# Pinned like requirements.txt; the import name differs from the pip name for scikit-learn.
# scikit-learn 1.6.1 has no wheel for Python 3.14 (Debian sid's QGIS 3.44): there 1.7.2.
SKLEARN_PIN = "scikit-learn==1.7.2" if sys.version_info >= (3, 14) else "scikit-learn==1.6.1"
REQUIRED = {"torch": "torch==2.13.0", "sklearn": SKLEARN_PIN}


def _importable(module: str) -> bool:
    try:
        if module == "torch":  # the first import of torch in QGIS: with its own BLAS
            import_torch()
        else:
            importlib.import_module(module)
    except (ImportError, OSError):  # OSError: a broken binary install (missing DLL / .so)
        return False
    return True


def _findable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing_packages(quick: bool = False) -> list:
    """pip names of the required packages that cannot be imported.

    ``quick`` only looks for them (no import): importing torch takes seconds, too long for
    QGIS start-up; the algorithms do the full check before they run."""
    check = _findable if quick else _importable
    return [pip_name for module, pip_name in REQUIRED.items() if not check(module)]


def find_python(prefix: str | None = None, executable: str | None = None,
                platform: str | None = None, version: tuple | None = None,
                exists=os.path.isfile, which=shutil.which) -> str | None:
    """The Python interpreter of the running Python, or None.

    Inside QGIS ``sys.executable`` is often the QGIS binary (Linux, macOS) or qgis-bin.exe
    (Windows), so look beside ``sys.prefix`` first: ``<prefix>/bin/python3.X`` on Linux/macOS,
    ``<prefix>\\python.exe`` on Windows (OSGeo4W's apps\\PythonXY)."""
    prefix = sys.prefix if prefix is None else prefix
    executable = sys.executable if executable is None else executable
    platform = sys.platform if platform is None else platform
    major, minor = (version or sys.version_info)[:2]
    if platform.startswith("win"):
        candidates = [os.path.join(prefix, "python.exe"), os.path.join(prefix, "python3.exe")]
    else:
        candidates = [os.path.join(prefix, "bin", f"python{major}.{minor}"),
                      os.path.join(prefix, "bin", "python3"), os.path.join(prefix, "bin", "python")]
    if executable and os.path.basename(executable).lower().startswith("python"):
        candidates.append(executable)
    for candidate in candidates:
        if exists(candidate):
            return candidate
    return which(f"python{major}.{minor}") or which("python3")


# -- which torch build, from where ----------------------------------------------------------------

#: PyTorch's own index of CPU-only wheels (Linux x86_64/aarch64, Windows): no CUDA libraries.
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

#: Approximate downloads in MB, for the message bar (measured for torch 2.13 / scikit-learn 1.6:
#: the Linux CPU wheel is 192 MB; the CUDA build pulls NVIDIA's libraries and triton, about 3 GB,
#: 4.6 GB once installed; scikit-learn with SciPy and NumPy is about 60 MB).
DOWNLOAD_MB = {("torch", "cpu"): 200, ("torch", "cuda"): 3000, ("torch", "windows"): 250,
               ("torch", "macos"): 80, ("scikit-learn", None): 60}

BUILD_DESCRIPTIONS = {
    "cpu": "PyTorch's CPU build (no NVIDIA GPU was found)",
    "cuda": "PyTorch's CUDA build (an NVIDIA GPU was found)",
    "windows": "PyTorch from PyPI (the CPU build on Windows)",
    "macos": "PyTorch from PyPI (CPU and Apple GPU)",
}


def nvidia_gpu_present(exists=os.path.exists, which=shutil.which) -> bool:
    """An NVIDIA driver is installed (Linux), found without importing torch or running anything:
    the driver's /proc entry, a device node, or its nvidia-smi tool."""
    return bool(exists("/proc/driver/nvidia/version") or exists("/dev/nvidia0") or which("nvidia-smi"))


def torch_build(platform: str | None = None, has_nvidia: bool | None = None) -> str:
    """Which torch to install: 'cpu' or 'cuda' on Linux (PyPI's Linux torch is the multi-GB CUDA
    build, useless without an NVIDIA GPU), else PyPI's default ('windows', 'macos')."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    if has_nvidia is None:
        has_nvidia = nvidia_gpu_present()
    return "cuda" if has_nvidia else "cpu"


def pip_name(requirement: str) -> str:
    return requirement.split("==")[0].split(">")[0].split("<")[0].strip().lower()


def install_plan(python: str, packages: list | None = None, target: str | None = None,
                 platform: str | None = None, has_nvidia: bool | None = None) -> dict:
    """How to install ``packages`` (pinned pip requirements; all required ones by default).

    Returns ``{"build", "commands", "download_mb", "description"}``: ``commands`` are pip argument
    lists run one after the other. PyTorch's CPU build comes from PyTorch's own index
    (``--index-url``), everything else from PyPI: two pip runs, so that no other package is looked
    up on the PyTorch index. ``target`` installs into that folder (the desktop installer), else
    ``--user`` (the command shown to users who install themselves)."""
    packages = list(packages or REQUIRED.values())
    build = torch_build(platform, has_nvidia)
    # The desktop installer runs pip unattended: no prompts, no progress bars in its output.
    where = ["--target", target, "--upgrade", "--no-input", "--disable-pip-version-check",
             "--progress-bar", "off"] if target else ["--user"]
    base = [python, "-m", "pip", "install", *where]
    torch = [p for p in packages if pip_name(p) == "torch"]
    others = [p for p in packages if pip_name(p) != "torch"]
    commands = []
    if torch and build == "cpu":
        commands.append(base + ["--index-url", PYTORCH_CPU_INDEX, *torch])
        if others:
            commands.append(base + others)
    else:
        commands.append(base + packages)
    download = (DOWNLOAD_MB[("torch", build)] if torch else 0) + sum(
        DOWNLOAD_MB[("scikit-learn", None)] for p in others if pip_name(p) == "scikit-learn")
    names = ", ".join(pip_name(p) for p in packages)
    description = (f"{names}: {BUILD_DESCRIPTIONS[build]}" if torch else names)
    return {"build": build, "commands": commands, "download_mb": download, "description": description}


def format_size(mb: float) -> str:
    return f"{mb / 1000:.0f} GB" if mb >= 1000 else f"{mb:.0f} MB"


def command_line(args: list) -> str:
    return " ".join(f'"{a}"' if " " in a else a for a in args)


def install_command(packages: list | None = None) -> str:
    """The shell command(s) a user runs to install ``packages`` themselves (``--user``)."""
    plan = install_plan(find_python() or "python3", packages)
    return "  &&  ".join(command_line(c) for c in plan["commands"])


def missing_packages_message() -> str:
    missing = missing_packages()
    if not missing:
        return ""
    return ("This algorithm needs the Python packages " + ", ".join(missing) + ", which are not "
            "installed in the Python that QGIS uses. Install them with:  " + install_command(missing)
            + "  (on Windows, run it in the OSGeo4W Shell), then restart QGIS. In QGIS desktop, "
            "the plugin's offer in the message bar (Install) does this for you.")


# -- the desktop installer's folder and pip call -------------------------------------------------

def dependencies_folder(settings_dir: str) -> str:
    """Where the desktop installer puts packages: inside the QGIS profile (``settings_dir`` is
    QgsApplication.qgisSettingsDirPath()), outside the plugin folder so upgrades keep it."""
    return os.path.join(settings_dir, "python", "dependencies", "multimodal_siamese")


def activate_folder(folder: str) -> bool:
    """Make packages installed in ``folder`` importable (appended: QGIS's own packages win)."""
    if not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        site.addsitedir(folder)  # appends, and honours .pth files
    importlib.invalidate_caches()
    return True


def run_pip(args: list, on_line=None, is_cancelled=None, poll_s: float = 0.2) -> tuple:
    """Run pip (``args``: one command of ``install_plan``) → (return code or None when cancelled, output).

    ``on_line`` gets each output line (progress); ``is_cancelled`` is polled and ends pip."""
    import threading

    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", stdin=subprocess.DEVNULL)
    lines = []

    def read():
        for line in process.stdout:
            lines.append(line.rstrip())
            if on_line is not None:
                on_line(line.rstrip())

    # A reader thread, so that cancelling does not wait for pip's next line.
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while reader.is_alive():
        if is_cancelled is not None and is_cancelled():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            reader.join(timeout=5)
            return None, "\n".join(lines)
        reader.join(timeout=poll_s)
    return process.wait(), "\n".join(lines)


def pip_progress(line: str, collected: int) -> tuple:
    """A rough percentage from pip's output: (percent or None, packages collected so far)."""
    text = line.strip()
    if text.startswith("Collecting "):
        collected += 1
        return min(10 + 5 * collected, 70), collected
    if text.startswith("Installing collected packages"):
        return 80, collected
    if text.startswith("Successfully installed"):
        return 100, collected
    return None, collected
