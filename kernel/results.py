"""A workflow step's result file: checked before any work, so a step that could not hand its output back
does nothing (the predictor step deploys nothing, the converter converts nothing).

Why in the kernel: the predictor step and the converter write their output the same way (Tekton's
results folder and the TASK_RESULT name FuseML gives) and must refuse the same paths in the same words.
"""

from __future__ import annotations

import os
from pathlib import Path

from kernel.errors import StepInputError


def check_result_file(path: Path) -> None:
    """Refuse a result file the step could not write, before anything is deployed (a deploy whose URL
    cannot be handed back leaves the workflow without its output and the application deployed).

    Nothing is created: the nearest existing folder must be a writable folder, and the file, if there,
    a writable file. A path the system cannot even look at (too long, a name too long) is refused too.
    """
    try:
        _check_result_file(path)
    except OSError as err:
        shown = str(path) if len(str(path)) <= 120 else str(path)[:117] + "..."
        raise StepInputError(
            f"FUSEML_SERVING_RESULTS_DIR: the result file {shown} cannot be used ({err.strerror}); allowed: "
            "a writable folder (Tekton's /tekton/results)"
        ) from None


def _check_result_file(path: Path) -> None:
    where = f"the result file {path} (FUSEML_SERVING_RESULTS_DIR, TASK_RESULT)"
    if path.is_dir():
        raise StepInputError(f"TASK_RESULT: {where} is a folder; allowed: a result name to write")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise StepInputError(f"TASK_RESULT: {where} cannot be written (permission denied)")
        return
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise StepInputError(
            f"FUSEML_SERVING_RESULTS_DIR: {where} cannot be made: {folder} is not a folder; allowed: a "
            "writable folder (Tekton's /tekton/results)"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StepInputError(
            f"FUSEML_SERVING_RESULTS_DIR: {where} cannot be written: {folder} is not writable; allowed: a "
            "writable folder (Tekton's /tekton/results)"
        )
