"""`python -m convert`: convert an MLflow model to OpenVINO IR, as a command or as a FuseML workflow step.

Inputs are FuseML's (`FUSEML_*`, documented in `convert.inputs`); as a command, `--name value` sets
`FUSEML_NAME` (`python -m convert --input_model s3://b/m --precision INT8 ...`). Order of work, so the
cheapest failure is reported first: check the inputs, read and detect the source, digest it, skip if that
digest is already published, else convert, check, publish; then write the output model URL to
`$FUSEML_SERVING_RESULTS_DIR/$TASK_RESULT` (default directory /tekton/results) without a trailing newline.

Exit codes: 0 converted, or already converted (nothing written); 2 bad input (an input, an unreadable
store, an unsupported format, a shape or calibration set that does not fit, a result file that cannot be
written), nothing written; 1 the conversion failed or the INT8 model failed its accuracy gate (nothing
written), or what was published could not be completed or handed back (the line says what is there).
Failures print one `error:` line naming the input (FUSEML_INPUT_MODEL, ...); no line carries a credential.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from convert import inputs as convert_inputs
from kernel.errors import StepError, StepInputError
from kernel.redact import Redactor
from kernel.results import check_result_file
from modelstore import StoreError, credentials_from_env

if TYPE_CHECKING:
    from convert.run import Outcome

USAGE = "usage: python -m convert [--input_model URL] [--output_model URL] [--precision FP32|FP16|INT8] ..."


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the converter and return its exit code; every argument defaults to the real process."""
    env = dict(os.environ if env is None else env)
    out, err = out or sys.stdout, err or sys.stderr
    redact = Redactor.from_env(env)
    try:
        # A key file that cannot be read is reported by convert_inputs.read, with every other bad input.
        with contextlib.suppress(StoreError):
            redact.add(*credentials_from_env(env).values())
        env.update(_flags(sys.argv[1:] if argv is None else argv))
        inputs = convert_inputs.read(env)
        if inputs.result_file is not None:
            check_result_file(inputs.result_file)

        def say(line: str) -> None:
            print(redact(line), file=out, flush=True)

        def detail(line: str) -> None:
            if inputs.verbose:
                say(line)

        from convert.run import run

        outcome = run(inputs, env, say, detail)
        if inputs.result_file is not None:
            hand_back(inputs.result_file, outcome)
    except StoreError as failure:
        # An unreadable store is bad input: the URL, the credentials or the endpoint need fixing.
        print(redact(f"error: {one_line(str(failure))}"), file=err, flush=True)
        return StepInputError.exit_code
    except StepError as failure:
        print(redact(f"error: {one_line(str(failure))}"), file=err, flush=True)
        return failure.exit_code
    except Exception:
        # A bug, not a user error: keep the traceback for the report, redacted (it may quote values).
        print(redact(traceback.format_exc()), file=err, flush=True)
        return 1
    print(redact(f"model URL: {outcome.model_url}"), file=out, flush=True)
    return 0


def _flags(argv: Sequence[str]) -> dict[str, str]:
    """`--name value` (or `--name=value`) pairs as FUSEML_NAME entries."""
    found: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--") or arg == "--":
            raise StepInputError(f"{arg!r}: {USAGE}")
        name, sep, value = arg[2:].partition("=")
        name = name.replace("-", "_").lower()
        if name not in convert_inputs.INPUT_NAMES:
            raise StepInputError(f"--{name}: not an input; allowed: {', '.join(convert_inputs.INPUT_NAMES)}")
        if not sep:
            if not args:
                raise StepInputError(f"--{name} needs a value; {USAGE}")
            value = args.pop(0)
        found[f"FUSEML_{name.upper()}"] = value
    return found


def write_result(path: Path, url: str) -> None:
    """Write the step output exactly, with no trailing newline (Tekton results are compared byte for byte)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(url)
    except OSError as failure:
        raise StepInputError(
            f"TASK_RESULT: the result file {path} cannot be written: {failure.strerror}"
        ) from None


def hand_back(path: Path, outcome: Outcome) -> None:
    """Write the output URL; failing that after a version was published is exit 1, naming what is there
    (the file was checked before the run, so only a change meanwhile gets here)."""
    try:
        write_result(path, outcome.model_url)
    except StepInputError as failure:
        if not outcome.written:
            raise
        raise StepError(
            f"{failure}, after the IR was published at {outcome.model_url}/{outcome.version}: the workflow "
            "gets no ovms-model-url; rerun it (the rerun finds that version and writes nothing)"
        ) from None


def one_line(text: str) -> str:
    """Fold a message onto one line, so the workflow log shows exactly one error line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


if __name__ == "__main__":
    sys.exit(main())
