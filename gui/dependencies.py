"""Missing torch / scikit-learn: a message bar offer and a background, cancellable pip install.

pip runs in a QgsTask (worker thread) that touches no widget: it reports through setProgress
and the ``line`` signal, both delivered to the main thread; ``finished`` runs there too."""

from __future__ import annotations

import html

from qgis.core import Qgis, QgsApplication, QgsTask
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QLabel, QMessageBox, QProgressBar, QPushButton

from ..core.runtime import dependencies

TITLE = "Multimodal Siamese"
PACKAGE_NAMES = {"torch": "PyTorch", "scikit-learn": "scikit-learn"}


def readable_names(packages: list) -> str:
    """'PyTorch and scikit-learn' for pinned pip requirements."""
    return " and ".join(PACKAGE_NAMES.get(dependencies.pip_name(p), p) for p in packages)


class InstallDependenciesTask(QgsTask):
    """Runs the pip commands of ``dependencies.install_plan`` one after the other, cancellable."""

    line = pyqtSignal(str)

    def __init__(self, plan: dict, folder: str, packages: list, on_finished=None):
        super().__init__(f"Installing {', '.join(packages)} for {TITLE}", QgsTask.Flag.CanCancel)
        self.commands = plan["commands"]
        self.args = self.commands[0]
        self.folder = folder
        self.packages = list(packages)
        self.on_finished = on_finished
        self.returncode = None
        self.output = ""
        self.error = None
        self._collected = 0

    def run(self):  # worker thread: no widgets, no iface
        outputs = []
        for args in self.commands:
            self.args = args
            try:
                self.returncode, output = dependencies.run_pip(
                    args, on_line=self._on_line, is_cancelled=self.isCanceled)
            except OSError as exc:  # the interpreter could not be started: reported by finished()
                self.error = f"Could not start {args[0]}: {exc}"
                return False
            outputs.append(output)
            self.output = "\n".join(outputs)
            if self.returncode != 0:
                return False
        return True

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
        self.details_box = None
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

    def plan(self, missing: list) -> dict:
        folder = dependencies.dependencies_folder(QgsApplication.qgisSettingsDirPath())
        return dependencies.install_plan(dependencies.find_python() or "python3", missing, target=folder)

    def offer(self, missing: list):
        """One line (it must fit a 1280-px window beside the side panels on QGIS 3.22 to 3.44,
        whose fonts differ): what is missing and the download size; the build (CPU or CUDA), the
        pip commands and the folder are behind "Details"."""
        plan = self.plan(missing)
        bar = self.iface.messageBar()
        item = bar.createMessage(
            TITLE, f"needs {readable_names(missing)} ({dependencies.format_size(plan['download_mb'])}).")
        # Short texts: QGIS 3.40/3.44 size the item's text box by its own hint, and a longer
        # sentence or button wrapped the text onto a second line there; forcing the text box
        # wider instead squeezed the side panels (the Layers panel from 294 to 135 px).
        button = QPushButton("Install", item)
        button.setObjectName("mmsiam_install_dependencies")
        button.clicked.connect(lambda _checked=False: self.install(missing))
        details = QPushButton("Details", item)
        details.setObjectName("mmsiam_dependency_details")
        details.clicked.connect(lambda _checked=False: self.show_details(missing))
        item.layout().addWidget(button)
        item.layout().addWidget(details)
        self.offer_item = item
        bar.pushWidget(item, Qgis.MessageLevel.Warning)

    def details_text(self, missing: list) -> str:
        plan = self.plan(missing)
        folder = dependencies.dependencies_folder(QgsApplication.qgisSettingsDirPath())
        commands = "".join(f"<pre>{html.escape(dependencies.command_line(c))}</pre>" for c in plan["commands"])
        return (
            f"<p>The plugin's algorithms need the Python packages <b>{html.escape(', '.join(missing))}</b>, "
            "which are not installed in the Python that QGIS uses. QGIS itself and the rest of the "
            "plugin work without them.</p>"
            f"<p><b>Install</b> installs {html.escape(plan['description'])}: a download of "
            f"about {dependencies.format_size(plan['download_mb'])}. PyTorch's CPU build is enough "
            "for this plugin; the CUDA build (about 3 GB, with NVIDIA's libraries) is chosen only "
            "where an NVIDIA GPU is present.</p>"
            f"<p>It runs, in the background (QGIS stays usable; Cancel stops it):</p>{commands}"
            f"<p>The packages go into <code>{html.escape(folder)}</code>, outside the plugin (they "
            "survive plugin upgrades and touch no other Python program). Delete that folder to "
            "undo.</p>")

    def show_details(self, missing: list):
        box = QMessageBox(QMessageBox.Icon.Information, f"{TITLE}: dependencies",
                          self.details_text(missing), QMessageBox.StandardButton.Close,
                          self.iface.mainWindow())
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setObjectName("mmsiam_dependency_details_box")
        self.details_box = box
        box.open()  # not modal to the application: the offer stays usable
        return box

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
        plan = dependencies.install_plan(python, missing, target=folder)
        task = InstallDependenciesTask(plan, folder, missing, on_finished=self._finished)

        item = bar.createMessage(TITLE, f"installing {readable_names(missing)} "
                                        f"({dependencies.format_size(plan['download_mb'])})…")
        self.status_label = QLabel(item)
        self.status_label.setMaximumWidth(360)  # pip's lines are long: one line, elided by Qt
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
            commands = "  &&  ".join(dependencies.command_line(c) for c in task.commands)
            bar.pushMessage(TITLE, f"{reason}. Run it yourself: {commands}", tail,
                            Qgis.MessageLevel.Critical, 0)

    def _pop(self, name: str):
        item = getattr(self, name)
        setattr(self, name, None)
        # The user may have closed it already (QgsMessageBar deletes closed items).
        if item is not None and not sip.isdeleted(item):
            self.iface.messageBar().popWidget(item)

    def unload(self):
        if self.details_box is not None and not sip.isdeleted(self.details_box):
            self.details_box.close()
        self.details_box = None
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self._pop("offer_item")
        self._pop("progress_item")
