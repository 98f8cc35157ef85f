"""A Processing feedback that keeps what an algorithm tells the analyst, for the tests to read."""

from qgis.core import QgsProcessingFeedback


class Log(QgsProcessingFeedback):
    """``lines``: every info, warning and error line, in order; ``warnings`` and ``errors``: the
    warning and the (non-fatal) error lines alone; ``percents``: every progress value."""

    def __init__(self):
        super().__init__()
        self.lines, self.warnings, self.errors, self.percents = [], [], [], []

    def setProgress(self, value):  # noqa: N802 (QGIS API name)
        self.percents.append(value)
        super().setProgress(value)

    def pushInfo(self, info):  # noqa: N802 (QGIS API name)
        super().pushInfo(info)
        self.lines.append(info)

    def pushWarning(self, warning):  # noqa: N802 (QGIS API name)
        super().pushWarning(warning)
        self.lines.append(warning)
        self.warnings.append(warning)

    def reportError(self, error, fatalError=False):  # noqa: N802 (QGIS API name)
        super().reportError(error, fatalError)
        self.lines.append(error)
        self.errors.append(error)
