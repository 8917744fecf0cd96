"""`python -m step`: the FuseML OVMS predictor step, deploying the fuseml-serving stack of one application.

Order of work, so the cheapest failure is reported first: read the step inputs (`step.inputs`, which
documents every environment variable), name the application (`step.naming`) and check that the result
file can be written; prepare them once with the core's own `prepare` (validation and the model's plan);
lay the model out where its runtime needs it (`step.layout`); check the state backend and passphrase;
check the Pulumi CLI; then create or select the application's stack, set its config (credentials as
secrets) and run `up` with the prepared stack as the inline program (`step.runner`), streaming the engine
output through a redactor; finally write the prediction URL to `/tekton/results/$TASK_RESULT` (directory
overridable with `FUSEML_SERVING_RESULTS_DIR`), without a trailing newline.

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
from typing import TYPE_CHECKING, TextIO

from kernel.errors import StepError
from kernel.redact import Redactor
from kernel.results import check_result_file
from step import inputs as step_inputs
from step.runner import Boundary, Console, default_factory, deploy

if TYPE_CHECKING:
    from components.program import Prepared


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
        check_result_file(inputs.result_file)
        inputs, ready = laid_out(inputs, step_inputs.prepare(inputs), console)
        url = deploy(
            inputs, ready, env, boundary or Boundary(which=shutil.which, factory=default_factory), console
        )
    except StepError as failure:
        console.error(f"error: {one_line(str(failure))}")
        return failure.exit_code
    except Exception:
        # A bug, not a user error: keep the traceback for the report, but it may quote values, so redact it.
        console.error(traceback.format_exc())
        return 1
    console.info(f"prediction URL: {url}")
    return 0


def laid_out(
    inputs: step_inputs.StepInputs, ready: Prepared, console: Console
) -> tuple[step_inputs.StepInputs, Prepared]:
    """The inputs and prepared stack to deploy: the model laid out first where its runtime needs it
    (step/layout.py), in the same store, so the plan made for it still holds."""
    from modelstore.stores import StoreSettings, open_store
    from step.layout import lay_out, with_model

    cfg = ready.cfg
    settings = StoreSettings(
        credentials=dict(inputs.secrets), endpoint=cfg.storage.s3_endpoint, region=cfg.storage.aws_region
    )
    (plan,) = ready.plans.values()
    laid = lay_out(cfg, plan, settings, open_store)
    if laid is None:
        return inputs, ready
    console.info(laid.said)
    if laid.url == inputs.raw["models"][0]["model"]:
        return inputs, ready
    moved = dataclasses.replace(inputs, raw=with_model(inputs.raw, laid.url, laid.format))
    return moved, ready.with_model_url(inputs.app_name, laid.url, laid.format)


def one_line(text: str) -> str:
    """Fold a message onto one line, so the workflow log shows exactly one error line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


if __name__ == "__main__":
    sys.exit(main())
