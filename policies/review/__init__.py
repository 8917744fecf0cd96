"""Offline policy review of one stack: plan it under mocks, evaluate every policy, write what it would create.

Why: reviewers (and CI) need the policy pack's verdict on a stack change without a Pulumi CLI, cloud
credentials, a cluster or the network. The review runs the real program in-process with the stack's
`Pulumi.<stack>.yaml` read as the Pulumi CLI reads it (offline/stackfile.py; secure values, and secrets
the program needs that the file does not hold, are opaque placeholders, never decrypted; models whose
plan needs a store read are left out and listed: no host is contacted), feeds the planned resources to
the very rules the policy pack serves (policies/rules/), prints one table of verdicts and writes the
planned Kubernetes objects plus a resource tree for reading.

    python -m policies.review --stack dev [--out DIR] [--config policy-config.json] [--root DIR]

Exit codes: 0 no blocking violation, 1 a mandatory (or remediate) policy is violated, 2 the review could
not run (bad usage, unknown stack file, invalid stack or policy config, program failure).

Secrets never reach the output: policies see Pulumi secrets as opaque `[secret]` values (as the engine
shows them to a policy pack), written objects mask Pulumi secrets, Secret payloads, the ModelServer's
inline credential fields and every value the credential rule flags, and every printed or written string
is scrubbed of all of those values and of anything shaped like a credential.

The package, by concern: `running` reads the stack and the policy config, plans the program offline and
evaluates the rules; `rendering` masks what the plan must not show and writes the table, tree, objects
and verdicts; `cli` is the command line (`__main__` runs it). This module checks the review's own
dependencies first and then shows the names callers use.
"""

from __future__ import annotations

import sys


def _require(*modules: str) -> None:
    """Exit with one line naming what to install when a review dependency is missing.

    The deploy environment (requirements.txt) is kept to what `pulumi up` and the step image need; the
    review's validators and the policy SDK come with requirements-dev.txt.
    """
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"error: the offline review needs {', '.join(missing)}, which requirements.txt does not install: "
            "run .venv/bin/pip install -r requirements-dev.txt",
            file=sys.stderr,
        )
        sys.exit(2)


_require("jsonschema", "kubernetes_validate", "pulumi_policy")

# After the dependency check, on purpose.
from policies.review.cli import EXIT_OK, EXIT_USAGE, EXIT_VIOLATIONS, main  # noqa: E402
from policies.review.rendering import Masking, scrubber  # noqa: E402
from policies.review.running import CREDENTIAL_MASK, SECRET_MASK, ReviewError, Verdict  # noqa: E402

__all__ = [
    "CREDENTIAL_MASK",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VIOLATIONS",
    "SECRET_MASK",
    "Masking",
    "ReviewError",
    "Verdict",
    "main",
    "scrubber",
]
