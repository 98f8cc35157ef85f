"""core/runtime/dependencies.py without QGIS: interpreter detection, pip arguments and the pip runner."""

import os
import sys

from multimodal_siamese.core.runtime import dependencies

SKLEARN_PIN = dependencies.SKLEARN_PIN  # 1.6.1, or 1.7.2 on Python 3.14


def only(*paths):
    return lambda path: path in paths


def test_find_python_beside_prefix_on_linux_even_when_executable_is_qgis():
    found = dependencies.find_python(prefix="/usr", executable="/usr/bin/qgis", platform="linux",
                                     version=(3, 11), exists=only("/usr/bin/python3.11", "/usr/bin/python3"),
                                     which=lambda name: None)
    assert found == "/usr/bin/python3.11"
    found = dependencies.find_python(prefix="/usr", executable="/usr/bin/qgis", platform="linux",
                                     version=(3, 11), exists=only("/usr/bin/python3"), which=lambda name: None)
    assert found == "/usr/bin/python3"


def test_find_python_on_windows_osgeo4w_and_macos_bundle():
    prefix = r"C:\OSGeo4W\apps\Python312"
    found = dependencies.find_python(prefix=prefix, executable=r"C:\OSGeo4W\bin\qgis-bin.exe",
                                     platform="win32", version=(3, 12),
                                     exists=only(os.path.join(prefix, "python.exe")), which=lambda name: None)
    assert found == os.path.join(prefix, "python.exe")
    prefix = "/Applications/QGIS.app/Contents/Frameworks/Python.framework/Versions/3.9"
    found = dependencies.find_python(prefix=prefix, executable="/Applications/QGIS.app/Contents/MacOS/QGIS",
                                     platform="darwin", version=(3, 9),
                                     exists=only(prefix + "/bin/python3.9"), which=lambda name: None)
    assert found == prefix + "/bin/python3.9"


def test_find_python_falls_back_to_a_python_executable_then_the_path():
    found = dependencies.find_python(prefix="/nowhere", executable="/opt/py/bin/python3", platform="linux",
                                     version=(3, 11), exists=only("/opt/py/bin/python3"), which=lambda name: None)
    assert found == "/opt/py/bin/python3"
    found = dependencies.find_python(prefix="/nowhere", executable="/usr/bin/qgis", platform="linux",
                                     version=(3, 11), exists=only(), which={"python3": "/bin/python3"}.get)
    assert found == "/bin/python3"
    assert dependencies.find_python(prefix="/nowhere", executable="/usr/bin/qgis", platform="linux",
                                    version=(3, 11), exists=only(), which=lambda name: None) is None


def test_find_python_here_is_this_interpreter_or_its_twin():
    found = dependencies.find_python()
    assert found and os.path.isfile(found) and os.path.basename(found).startswith("python")


def test_install_command_and_pip_arguments_carry_the_pins():
    command = dependencies.install_command()
    assert "pip install --user" in command and "torch==2.13.0" in command and SKLEARN_PIN in command
    plan = dependencies.install_plan("/usr/bin/python3", target="/p/deps", platform="win32")
    [args] = plan["commands"]
    assert args[:4] == ["/usr/bin/python3", "-m", "pip", "install"]
    assert args[args.index("--target") + 1] == "/p/deps"
    assert args[-2:] == ["torch==2.13.0", SKLEARN_PIN]
    folder = dependencies.dependencies_folder("/home/u/.local/share/QGIS/QGIS3/profiles/default/")
    assert folder == "/home/u/.local/share/QGIS/QGIS3/profiles/default/python/dependencies/multimodal_siamese"


def test_linux_without_nvidia_gets_the_cpu_build_from_pytorchs_index():
    plan = dependencies.install_plan("/usr/bin/python3", target="/p/deps", platform="linux", has_nvidia=False)
    torch, sklearn = plan["commands"]
    # torch alone from PyTorch's CPU index; scikit-learn (and its NumPy/SciPy) from PyPI.
    assert torch[torch.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert torch[-1] == "torch==2.13.0" and SKLEARN_PIN not in torch
    assert sklearn[-1] == SKLEARN_PIN and "--index-url" not in sklearn
    assert "--extra-index-url" not in torch + sklearn
    assert sklearn[sklearn.index("--target") + 1] == torch[torch.index("--target") + 1] == "/p/deps"
    assert plan["build"] == "cpu" and plan["download_mb"] < 500
    # Only torch missing: one command.
    plan = dependencies.install_plan("/usr/bin/python3", ["torch==2.13.0"], target="/p/deps",
                                     platform="linux", has_nvidia=False)
    assert len(plan["commands"]) == 1 and "--index-url" in plan["commands"][0]
    # Only scikit-learn missing: PyPI.
    plan = dependencies.install_plan("/usr/bin/python3", [SKLEARN_PIN], target="/p/deps",
                                     platform="linux", has_nvidia=False)
    assert plan["commands"] == [plan["commands"][0]] and "--index-url" not in plan["commands"][0]
    assert plan["download_mb"] < 100


def test_linux_with_nvidia_windows_and_macos_get_pypis_default_build():
    for platform, nvidia, build in (("linux", True, "cuda"), ("win32", None, "windows"), ("darwin", None, "macos")):
        plan = dependencies.install_plan("py", target="/p", platform=platform, has_nvidia=nvidia)
        [args] = plan["commands"]
        assert "--index-url" not in args and "--extra-index-url" not in args
        assert args[-2:] == ["torch==2.13.0", SKLEARN_PIN] and plan["build"] == build
    cuda = dependencies.install_plan("py", platform="linux", has_nvidia=True)["download_mb"]
    cpu = dependencies.install_plan("py", platform="linux", has_nvidia=False)["download_mb"]
    assert cuda > 5 * cpu and dependencies.format_size(cuda) == "3 GB"


def test_user_command_for_headless_installs():
    plan = dependencies.install_plan("python3", platform="linux", has_nvidia=False)
    assert [c[:5] for c in plan["commands"]] == [["python3", "-m", "pip", "install", "--user"]] * 2
    assert "--target" not in plan["commands"][0] and "--no-input" not in plan["commands"][0]


def test_nvidia_gpu_is_detected_without_torch():
    assert dependencies.nvidia_gpu_present(exists=only("/proc/driver/nvidia/version"), which=lambda n: None)
    assert dependencies.nvidia_gpu_present(exists=only(), which={"nvidia-smi": "/usr/bin/nvidia-smi"}.get)
    assert not dependencies.nvidia_gpu_present(exists=only(), which=lambda n: None)
    assert dependencies.torch_build("linux", has_nvidia=False) == "cpu"
    assert dependencies.torch_build("linux", has_nvidia=True) == "cuda"


def test_quick_check_does_not_import(monkeypatch):
    monkeypatch.setattr(dependencies, "_importable", lambda module: (_ for _ in ()).throw(AssertionError))
    monkeypatch.setattr(dependencies, "_findable", lambda module: module != "sklearn")
    assert dependencies.missing_packages(quick=True) == [SKLEARN_PIN]


def test_activate_folder_appends_to_sys_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert not dependencies.activate_folder(str(tmp_path / "absent"))
    (tmp_path / "mmsiam_fake_pkg.py").write_text("VALUE = 7\n")
    assert dependencies.activate_folder(str(tmp_path))
    assert sys.path[-1] == str(tmp_path)
    import mmsiam_fake_pkg

    assert mmsiam_fake_pkg.VALUE == 7
    sys.modules.pop("mmsiam_fake_pkg")


def test_run_pip_streams_lines_and_returns_the_exit_code():
    script = "print('Collecting torch==2.13.0'); print('Successfully installed torch'); raise SystemExit(3)"
    seen = []
    code, output = dependencies.run_pip([sys.executable, "-c", script], on_line=seen.append)
    assert code == 3
    assert seen == ["Collecting torch==2.13.0", "Successfully installed torch"]
    assert "Successfully installed" in output


def test_run_pip_cancel_ends_the_process_quickly():
    import time

    start = time.monotonic()
    code, _ = dependencies.run_pip([sys.executable, "-c", "import time; time.sleep(60)"],
                                   is_cancelled=lambda: time.monotonic() - start > 0.5)
    assert code is None
    assert time.monotonic() - start < 15


def test_pip_progress_rises_to_100():
    collected, percents = 0, []
    for line in ["Collecting torch==2.13.0", "  Downloading x", "Collecting numpy",
                 "Installing collected packages: numpy, torch", "Successfully installed numpy torch"]:
        percent, collected = dependencies.pip_progress(line, collected)
        percents.append(percent)
    assert percents == [15, None, 20, 80, 100]
