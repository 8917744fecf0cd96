"""The review's command line: arguments, exit codes, one review printed; `python -m policies.review`.

    python -m policies.review --stack dev [--out DIR] [--config policy-config.json] [--root DIR]

Exit codes: 0 no blocking violation, 1 a mandatory (or remediate) policy is violated, 2 the review could
not run (bad usage, unknown stack file, invalid stack or policy config, program failure).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from offline.plan import ROOT
from policies.review.rendering import Masking, scrubber, summary, table, tree, write_review
from policies.review.running import (
    CREDENTIAL_POLICY,
    INFO_LEVEL,
    OFFLINE_NOTE,
    Program,
    ReviewError,
    Verdict,
    evaluate,
    read_policy_config,
    read_stack,
    run_program,
    schema_notes,
)

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    cli = argparse.ArgumentParser(
        prog="python -m policies.review",
        description="Plan a stack offline (no Pulumi CLI, credentials or network), evaluate the policy pack "
        "on it, and write the planned Kubernetes objects (secrets masked) and the resource tree.",
        epilog="Exit codes: 0 no blocking violation, 1 a mandatory policy is violated, 2 the review could "
        "not run (usage, unknown stack file, invalid stack or policy config).",
    )
    cli.add_argument("--stack", required=True, help="stack name: reviews Pulumi.<stack>.yaml")
    cli.add_argument("--root", type=Path, default=ROOT, help="folder of the stack file (default: the repo)")
    cli.add_argument("--out", type=Path, help="output folder (default: review-out/<stack>)")
    cli.add_argument("--config", type=Path, help="Pulumi policy config JSON (levels and settings)")
    return cli


def parse_args(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> argparse.Namespace:
    """Parsed arguments; argparse's own exit (usage error 2, --help 0) becomes a ReviewError or SystemExit."""
    try:
        # argparse writes help and usage to the process streams; send them where the caller asked.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return parser().parse_args(argv)
    except SystemExit as exit_:
        if exit_.code in (0, None):
            raise
        raise ReviewError("bad usage (see --help)") from None


def review(args: argparse.Namespace, program: Program | None, out: TextIO) -> int:
    """Run one review and print it; raises ReviewError when it cannot run."""
    raw_config, levels, settings = read_policy_config(args.config)
    read = read_stack(args.stack, args.root)
    reviewed = run_program(args.stack, read, program)
    result = reviewed.plan
    masking = Masking.of(result, settings[CREDENTIAL_POLICY], reviewed.placeholders.values())
    verdicts = evaluate(result, raw_config, levels)
    verdicts += [
        note
        for r in result.resources
        if r.kubernetes_object
        for note in schema_notes(r, masking.written_object(r))
    ]
    # What the review assumed is part of its verdict: rows of their own, in the table and verdicts.json.
    notes = [*read.warnings, *reviewed.notes()]
    verdicts += [Verdict("(stack)", OFFLINE_NOTE, INFO_LEVEL, line) for line in notes]
    destination = args.out or Path("review-out") / args.stack
    written = write_review(destination, result, masking, tree(args.stack, result, verdicts), verdicts)
    for line in [*table(result, verdicts), "", summary(args.stack, result, verdicts, levels)]:
        print(masking.redactor.text(line), file=out)
    print(f"wrote {len(written) - 2} object file(s), tree.txt and verdicts.json to {destination}", file=out)
    return EXIT_VIOLATIONS if any(v.blocking for v in verdicts) else EXIT_OK


def main(
    argv: Sequence[str] | None = None,
    *,
    program: Program | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The review as a function: `program` replaces the real program (tests pass deliberately bad ones)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        return review(parse_args(argv, out, err), program, out)
    except SystemExit:  # --help
        return EXIT_OK
    except ReviewError as error:
        # The message may repeat a config value: scrub anything shaped like a credential.
        print(f"error: {scrubber().text(str(error))}", file=err)
        return EXIT_USAGE
