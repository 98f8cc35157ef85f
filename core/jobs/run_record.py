"""What every training run saves: the model, plain metadata stamped with time and versions,
and an optional report."""

from __future__ import annotations

import time

from ...models.checkpoint import save_checkpoint
from ..progress import Progress
from ..runtime.version import library_versions


def save_run(model_path: str, kind: str, model, metadata: dict, started: float,
             report_path: str | None, write_report, progress: Progress) -> dict:
    """Stamp ``metadata`` (creation time, run time, versions), save the checkpoint atomically and
    write the report. Nothing is written when the run was cancelled."""
    versions = library_versions()
    metadata.update(created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), seconds=float(time.time() - started),
                    versions=versions, plugin_version=versions["plugin"])
    progress.check()
    save_checkpoint(model_path, kind, model.cpu().state_dict(), metadata)
    if report_path:
        write_report(report_path, metadata)
    progress.info(f"Model written to {model_path}.")
    return metadata
