"""`python -m step`: the FuseML OVMS predictor step, deploying the fuseml-serving stack of one application.

Order of work, so the cheapest failure is reported first: read the step inputs (`step.inputs`, which
documents every environment variable) and name the application (`step.naming`); validate them with the
core's own `parse`; decide the backend and, for TF Serving, lay the SavedModel out (`step.layout`); check
the state backend and passphrase; check the Pulumi CLI; then create or select the
application's stack, set its config (credentials as secrets) and run `up` (`step.runner`), streaming the
engine output through a redactor; finally write the prediction URL to `/tekton/results/$TASK_RESULT`
(directory overridable with `FUSEML_SERVING_RESULTS_DIR`), without a trailing newline.

Exit codes: 0 deployed; 2 bad input or an unprepared container (no backend, passphrase, CLI or plugin),
nothing deployed; 1 the deploy failed or the stack stayed locked. Failures print one `error:` line.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from kernel.errors import StepError, StepInputError
from kernel.redact import Redactor
from step import inputs as step_inputs
from step.runner import Boundary, Console, default_factory, deploy


def main(
    env: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    boundary: Boundary | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the step and return its exit code; every argument defaults to the real process and machine."""
    env = dict(os.environ if env is None else env)
    console = Console(Redactor.from_env(env), out or sys.stdout, err or sys.stderr)
    try:
        inputs = step_inputs.read(env, workdir or Path.cwd())
        console.redact.add(*inputs.secrets.values())
        inputs = prepared(inputs, step_inputs.validate(inputs), console)
        url = deploy(inputs, env, boundary or Boundary(which=shutil.which, factory=default_factory), console)
    except StepError as failure:
        console.error(f"error: {one_line(str(failure))}")
        return failure.exit_code
    except Exception:
        # A bug, not a user error: keep the traceback for the report, but it may quote values, so redact it.
        console.error(traceback.format_exc())
        return 1
    console.info(f"prediction URL: {url}")
    return 0


def prepared(inputs: step_inputs.StepInputs, cfg: Any, console: Console) -> step_inputs.StepInputs:
    """The inputs to deploy: the model laid out first where its runtime needs it (step/layout.py)."""
    from components.backends import registry
    from components.config import ConfigError
    from components.serving import plans, store_detector
    from modelstore.stores import StoreSettings, open_store
    from step.layout import lay_out, with_model

    settings = StoreSettings(
        credentials=dict(inputs.secrets), endpoint=cfg.storage.s3_endpoint, region=cfg.storage.aws_region
    )
    try:
        (plan,) = plans(cfg, registry(), store_detector(cfg.storage, settings.credentials)).values()
    except ConfigError as err:
        raise StepInputError("\n".join(str(e) for e in err.errors)) from None
    laid = lay_out(cfg, plan, settings, open_store)
    if laid is None:
        return inputs
    console.info(laid.said)
    moved = dataclasses.replace(inputs, raw=with_model(inputs.raw, laid.url))
    step_inputs.validate(moved)
    return moved


def one_line(text: str) -> str:
    """Fold a message onto one line, so the workflow log shows exactly one error line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


if __name__ == "__main__":
    sys.exit(main())
