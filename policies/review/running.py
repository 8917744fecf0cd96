"""Running a review: read the stack file and the policy config, plan the program offline, evaluate the rules.

Why apart from rendering: what the review finds must not depend on how it is shown; this module yields
the plan and its verdicts, and nothing here writes or prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.config import ConfigError
from offline.plan import Plan, PlannedResource, plan, read_stack_config, stack_file, stacks
from offline.schemas import validate
from policies import rules

#: Levels that fail the review. None of the rules has a remediation, and Pulumi ranks remediate above
#: mandatory, so a remediate level blocks just like mandatory.
BLOCKING_LEVELS = frozenset({"mandatory", "remediate"})
#: Level of schema notes: informational only, see `schema_notes`.
INFO_LEVEL = "info"
CREDENTIAL_POLICY = "no-plaintext-credentials"

#: What replaces a Pulumi secret (the same text `pulumi preview --json` shows and the rules read as secret).
SECRET_MASK = "[secret]"
#: What replaces a plain-text credential the rule flagged (or a Secret payload) in the written objects.
CREDENTIAL_MASK = "[redacted credential]"

Program = Callable[[], Mapping[str, Any]]


class ReviewError(Exception):
    """The review cannot run (bad usage or config); the message says why and the exit code is 2."""


# ---------------------------------------------------------------------------------------------------------
# Inputs: stack file, policy config, plan.
# ---------------------------------------------------------------------------------------------------------
def read_stack(stack: str, root: Path) -> tuple[dict[str, str], list[str]]:
    """Engine-form config and secret keys of `Pulumi.<stack>.yaml` under root, or ReviewError."""
    path = stack_file(stack, root)
    if not path.is_file():
        known = ", ".join(stacks(root)) or "none"
        raise ReviewError(f"no stack file {path} (stacks under {root}: {known})")
    try:
        return read_stack_config(path)
    except yaml.YAMLError as error:
        # Only the position: YAML errors quote the offending line, which may hold a credential.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ReviewError(f"{path} is not valid YAML{where}") from None
    except (AttributeError, TypeError):
        raise ReviewError(f"{path} must hold a mapping with a `config:` mapping") from None


def read_policy_config(path: Path | None) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, Any]]]:
    """(raw config, levels, settings) from a Pulumi policy config file (None: the pack's defaults)."""
    try:
        raw = rules.load_policy_config(path)
        levels, settings = rules.merge_policy_config(raw)
    except OSError as error:
        raise ReviewError(f"cannot read policy config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ReviewError(f"policy config {path} is not valid JSON (line {error.lineno})") from None
    except (ValueError, AttributeError) as error:
        raise ReviewError(f"invalid policy config {path}: {error}") from None
    return raw, levels, settings


def run_program(
    stack: str, config: Mapping[str, str], secret_keys: list[str], program: Program | None
) -> Plan:
    """Plan the program under mocks; a ConfigError or a crash becomes a ReviewError naming what registered."""
    registered: list[PlannedResource] = []
    try:
        return plan(config, stack=stack, secret_keys=secret_keys, program=program, record=registered)
    except ConfigError as error:
        raise ReviewError(
            f"invalid stack config: {error} ({len(registered)} resource(s) registered)"
        ) from None
    except Exception as error:  # a crashing program cannot be reviewed; report it like bad config
        raise ReviewError(
            f"the program failed: {type(error).__name__}: {error} ({len(registered)} resource(s) registered)"
        ) from None


# ---------------------------------------------------------------------------------------------------------
# Policy evaluation.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """One finding on one resource (or on the stack when `urn` matches no resource)."""

    urn: str
    policy: str
    level: str
    message: str

    @property
    def blocking(self) -> bool:
        """Whether this finding fails the review."""
        return self.level in BLOCKING_LEVELS

    @property
    def mark(self) -> str:
        """The verdict column: FAIL blocks, WARN is advisory, NOTE is informational."""
        if self.blocking:
            return "FAIL"
        return "NOTE" if self.level == INFO_LEVEL else "WARN"


def policy_view(resource: PlannedResource) -> dict[str, Any]:
    """A resource as the policy pack sees it: Pulumi secrets opaque, exactly as the engine sends them."""
    return {
        "type": resource.type,
        "props": resource.masked_inputs(SECRET_MASK),
        "urn": resource.urn,
        "name": resource.name,
        "additionalSecretOutputs": resource.additional_secret_outputs,
    }


def evaluate(result: Plan, raw_config: Mapping[str, Any], levels: Mapping[str, str]) -> list[Verdict]:
    """Every violation of every enabled policy (resource and stack rules), with its configured level."""
    findings = rules.evaluate_stack([policy_view(r) for r in result.resources], raw_config)
    return [
        Verdict(ref, policy, levels[policy], message)
        for policy, violations in findings.items()
        for ref, message in violations
    ]


def schema_notes(resource: PlannedResource, obj: Mapping[str, Any]) -> list[Verdict]:
    """Schema problems of one planned object, as informational findings.

    Why informational: the exit code must match what the policy pack decides on `pulumi preview`, and the
    CRD schemas live in a shared reference folder that a reviewer's machine may not have; the program's
    own tests keep its objects valid. The masked object is checked (schema messages quote values), so a
    problem about a mask (a whole secret payload replaced by text) says nothing and is left out.
    """
    try:
        problems = validate(obj)
    except (OSError, KeyError) as error:
        problems = [f"not checked: {type(error).__name__} loading the schema ({error})"]
    return [
        Verdict(resource.urn, "schema", INFO_LEVEL, problem)
        for problem in problems
        if SECRET_MASK not in problem and CREDENTIAL_MASK not in problem
    ]
