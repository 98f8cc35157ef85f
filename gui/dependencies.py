"""Missing torch / scikit-learn: a message bar offer and a background, cancellable pip install.

pip runs in a QgsTask (worker thread) that touches no widget: it reports through setProgress
and the ``line`` signal, both delivered to the main thread; ``finished`` runs there too."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsTask
from qgis.PyQt import sip
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QLabel, QProgressBar, QPushButton

from ..core import dependencies

TITLE = "Multimodal Siamese"


class InstallDependenciesTask(QgsTask):
    """``python -m pip install --target FOLDER`` the pinned packages, cancellable."""

    line = pyqtSignal(str)

    def __init__(self, python: str, folder: str, packages: list, on_finished=None):
        super().__init__(f"Installing {', '.join(packages)} for {TITLE}", QgsTask.Flag.CanCancel)
        self.args = dependencies.pip_install_args(python, folder, packages)
        self.folder = folder
        self.packages = list(packages)
        self.on_finished = on_finished
        self.returncode = None
        self.output = ""
        self.error = None
        self._collected = 0

    def run(self):  # worker thread: no widgets, no iface
        try:
            self.returncode, self.output = dependencies.run_pip(
                self.args, on_line=self._on_line, is_cancelled=self.isCanceled)
        except OSError as exc:  # the interpreter could not be started: reported by finished()
            self.error = f"Could not start {self.args[0]}: {exc}"
            return False
        return self.returncode == 0

    def _on_line(self, text: str):
        percent, self._collected = dependencies.pip_progress(text, self._collected)
        if percent is not None:
            self.setProgress(percent)
        if text.strip():
            self.line.emit(text.strip())

    def finished(self, result):  # main thread
        if self.on_finished is not None:
            self.on_finished(self, bool(result))


class DependencyInstaller:
    """Offers to install what is missing, runs the task, and reports in the message bar."""

    def __init__(self, iface):
        self.iface = iface
        self.offer_item = None
        self.progress_item = None
        self.progress_bar = None
        self.status_label = None
        self.task = None

    # -- the offer ------------------------------------------------------------------------------
    def offer_if_missing(self) -> list:
        # A quick look (no import): QGIS start-up must not wait for torch to load.
        missing = dependencies.missing_packages(quick=True)
        if missing:
            self.offer(missing)
        return missing

    def offer(self, missing: list):
        bar = self.iface.messageBar()
        item = bar.createMessage(
            TITLE, f"needs the Python packages {', '.join(missing)}, which are not installed in the "
                   "Python that QGIS uses.")
        button = QPushButton("Install dependencies", item)
        button.setObjectName("mmsiam_install_dependencies")
        button.clicked.connect(lambda _checked=False: self.install(missing))
        item.layout().addWidget(button)
        self.offer_item = item
        bar.pushWidget(item, Qgis.MessageLevel.Warning)

    # -- the install ----------------------------------------------------------------------------
    def install(self, missing: list):
        bar = self.iface.messageBar()
        self._pop("offer_item")
        python = dependencies.find_python()
        if python is None:
            bar.pushMessage(TITLE, "No Python interpreter was found to run pip. Install the packages "
                            "yourself: " + dependencies.install_command(missing),
                            Qgis.MessageLevel.Critical, 0)
            return None
        folder = dependencies.dependencies_folder(QgsApplication.qgisSettingsDirPath())
        task = InstallDependenciesTask(python, folder, missing, on_finished=self._finished)

        item = bar.createMessage(TITLE, f"Installing {', '.join(missing)} (this can take minutes)…")
        self.status_label = QLabel(item)
        self.progress_bar = QProgressBar(item)
        self.progress_bar.setRange(0, 100)
        cancel = QPushButton("Cancel", item)
        cancel.setObjectName("mmsiam_cancel_install")
        cancel.clicked.connect(lambda _checked=False: task.cancel())
        for widget in (self.status_label, self.progress_bar, cancel):
            item.layout().addWidget(widget)
        task.progressChanged.connect(self._set_progress)
        task.line.connect(self.status_label.setText)
        self.progress_item = item
        bar.pushWidget(item, Qgis.MessageLevel.Info)

        self.task = task  # the task manager does not keep the Python object alive
        QgsApplication.taskManager().addTask(task)
        return task

    def _set_progress(self, percent: float):
        if self.progress_bar is not None and not sip.isdeleted(self.progress_bar):
            self.progress_bar.setValue(int(percent))

    def _finished(self, task: InstallDependenciesTask, ok: bool):
        if task is not self.task:  # unloaded meanwhile
            return
        self.task = None
        self._pop("progress_item")
        self.progress_bar = self.status_label = None
        bar = self.iface.messageBar()
        packages = ", ".join(task.packages)
        if ok:
            dependencies.activate_folder(task.folder)
            still = dependencies.missing_packages()
            if still:
                bar.pushMessage(TITLE, f"Installed {packages} into {task.folder}; restart QGIS to "
                                "use them.", Qgis.MessageLevel.Warning, 0)
            else:
                bar.pushMessage(TITLE, f"Installed {packages}; the algorithms are ready.",
                                Qgis.MessageLevel.Success, 10)
        elif task.returncode is None and task.error is None:
            bar.pushMessage(TITLE, "Installation cancelled.", Qgis.MessageLevel.Info, 10)
        else:
            reason = task.error or f"pip failed (exit code {task.returncode})"
            tail = "\n".join(task.output.splitlines()[-30:])
            bar.pushMessage(TITLE, f"{reason}. Run it yourself: {' '.join(task.args)}", tail,
                            Qgis.MessageLevel.Critical, 0)

    def _pop(self, name: str):
        item = getattr(self, name)
        setattr(self, name, None)
        # The user may have closed it already (QgsMessageBar deletes closed items).
        if item is not None and not sip.isdeleted(item):
            self.iface.messageBar().popWidget(item)

    def unload(self):
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self._pop("offer_item")
        self._pop("progress_item")
