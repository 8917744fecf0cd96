"""Running a review: read the stack file and the policy config, plan the program offline, evaluate the rules.

Why apart from rendering: what the review finds must not depend on how it is shown; this module yields
the plan and its verdicts, and nothing here writes or prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from components.config import ConfigError
from kernel.credentials import SECRET_KEYS
from kernel.names import NAMESPACE
from offline.plan import Plan, PlannedResource, plan, read_stack_file, stack_file, stacks
from offline.schemas import validate
from offline.stackfile import StackConfig, StackFileError, placeholder
from policies import rules

#: Levels that fail the review. None of the rules has a remediation, and Pulumi ranks remediate above
#: mandatory, so a remediate level blocks just like mandatory.
BLOCKING_LEVELS = frozenset({"mandatory", "remediate"})
#: Level of schema notes: informational only, see `schema_notes`.
INFO_LEVEL = "info"
CREDENTIAL_POLICY = "no-plaintext-credentials"
#: The policy name of the review's own notes (assumed secrets, models not planned offline).
OFFLINE_NOTE = "offline-review"

#: What replaces a Pulumi secret (the same text `pulumi preview --json` shows and the rules read as secret).
SECRET_MASK = "[secret]"
#: What replaces a plain-text credential the rule flagged (or a Secret payload) in the written objects.
CREDENTIAL_MASK = "[redacted credential]"
#: Ends the reason the offline detector gives, so its refusals are told apart from the stack's mistakes.
OFFLINE_DETECTION = "the offline review reads no store"

Program = Callable[[], Mapping[str, Any]]
Detect = Callable[[str], tuple[str, str]]


class ReviewError(Exception):
    """The review cannot run (bad usage or config); the message says why and the exit code is 2."""


# ---------------------------------------------------------------------------------------------------------
# Inputs: stack file, policy config, plan.
# ---------------------------------------------------------------------------------------------------------
def read_stack(stack: str, root: Path) -> StackConfig:
    """`Pulumi.<stack>.yaml` under root read as the Pulumi CLI reads it, or ReviewError in one line."""
    path = stack_file(stack, root)
    if not path.is_file():
        known = ", ".join(stacks(root)) or "none"
        raise ReviewError(f"no stack file {path} (stacks under {root}: {known})")
    try:
        return read_stack_file(path, stack=stack)
    except StackFileError as error:
        raise ReviewError(str(error)) from None
    except RecursionError:
        # PyYAML composes nodes recursively; the CLI's yaml.v3 v3.0.1 reads up to 10,000 levels
        # (scannerc.go: max_flow_level and max_indents, "exceeded max depth of 10000"), so a file nested
        # deeper than Python's stack allows cannot be read as the CLI reads it.
        raise ReviewError(f"{path}: nested too deep for the review to read as the Pulumi CLI does") from None


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


def offline_detect(url: str) -> tuple[str, str]:
    """The review's `detect`: never reads a store (no host is contacted offline); every model that needs
    its store read to be planned is refused with this reason, and the review leaves it out."""
    from modelstore.errors import StoreError

    raise StoreError(f"format auto is read from the store at deploy time, and {OFFLINE_DETECTION}")


def review_program(detect: Detect) -> Program:
    """The program `pulumi up` runs (components.program.run: prepare once, then build), with `detect`."""

    def program() -> Mapping[str, Any]:
        from components.config import raw_from_pulumi
        from components.program import build, prepare

        project, stack = pulumi.get_project(), pulumi.get_stack()
        return build(prepare(*raw_from_pulumi(), project=project, stack=stack, detect=detect))

    return program


@dataclass
class Reviewed:
    """A plan and what the review assumed to make it: secrets it does not have, models it left out."""

    plan: Plan
    assumed: list[str] = field(default_factory=list)
    """Secret keys the stack file does not set, which the program needs: planned as opaque placeholders."""
    unplanned: list[tuple[int, str, str]] = field(default_factory=list)
    """(index in the stack, app name, model URL) of each model left out: its plan needs its store read."""
    placeholders: dict[str, str] = field(default_factory=dict)
    """Secret key -> the placeholder that stands in for it (never to be shown as a value)."""

    def notes(self) -> list[str]:
        """One line per assumption, for the report."""
        lines = []
        if self.assumed:
            lines.append(
                f"assumed set: {', '.join(self.assumed)} (secrets the stack file does not hold and the "
                "program needs; `pulumi config set --secret` sets them before `pulumi up`): planned as "
                "opaque placeholders, never shown"
            )
        lines += [
            f"not planned offline: {NAMESPACE}:models[{i}] (app {app!r}, {url}): format auto is read from "
            "its store at deploy time; set `format` to review it"
            for i, app, url in self.unplanned
        ]
        return lines


_MODEL_FORMAT = re.compile(r"models\[(\d+)\]\.format")


def _needed_secrets(mistakes: list[ConfigError], config: Mapping[str, str]) -> list[str]:
    """Secret keys that refusals ask to be set and the stack file does not set, in SECRET_KEYS' order."""
    text = "\n".join(str(m) for m in mistakes)
    return [
        f"{NAMESPACE}:{key}"
        for key in SECRET_KEYS
        if f"{NAMESPACE}:{key}" in text and f"{NAMESPACE}:{key}" not in config
    ]


def run_program(stack: str, read: StackConfig, program: Program | None) -> Reviewed:
    """Plan the program under mocks with what the stack file holds, plus what the review must assume.

    Secrets the stack file does not hold but the program needs (the shipped stacks ask for their S3 keys
    in a comment) are assumed set, as opaque placeholders; models whose plan needs their store read
    (`format: auto` on a backend that does not read the folder itself) are left out and listed. Any other
    refusal, or a crash, is a ReviewError naming every mistake and what registered.
    """
    config, secret_keys = dict(read.config), list(read.secret_keys)
    reviewed = Reviewed(Plan([], {}), placeholders=dict(read.placeholders))
    models_key = f"{NAMESPACE}:models"
    original = json.loads(config[models_key]) if models_key in config else []
    kept = list(range(len(original)))  # original index of each model still in the plan
    run = program or review_program(offline_detect)
    # Each round adds an assumption (secret keys, then left-out models) or ends: at most one per secret key
    # plus one for the models, and one to plan.
    for _ in range(len(SECRET_KEYS) + 2):
        registered: list[PlannedResource] = []
        try:
            reviewed.plan = plan(config, stack=stack, secret_keys=secret_keys, program=run, record=registered)
            return reviewed
        except ConfigError as error:
            mistakes = error.errors
            needed = _needed_secrets(mistakes, config)
            if needed:
                for key in needed:
                    config[key] = reviewed.placeholders[key] = placeholder(key)
                    secret_keys.append(key)
                reviewed.assumed += needed
                continue
            offline = [
                m for m in mistakes if OFFLINE_DETECTION in m.allowed and _MODEL_FORMAT.fullmatch(m.key)
            ]
            if offline and len(offline) == len(mistakes):
                left_out = {kept[int(_MODEL_FORMAT.fullmatch(m.key)[1])] for m in offline}  # type: ignore[index]
                for i in sorted(left_out):
                    entry = original[i] if isinstance(original[i], dict) else {}
                    reviewed.unplanned.append((i, str(entry.get("app_name")), str(entry.get("model"))))
                kept = [i for i in kept if i not in left_out]
                config[models_key] = json.dumps([original[i] for i in kept])
                continue
            real = [str(m) for m in mistakes if m not in offline]
            also = f"; {len(offline)} model(s) with format auto are not planned offline" if offline else ""
            raise ReviewError(
                f"invalid stack config: {chr(10).join(real)} ({len(registered)} resource(s) registered{also})"
            ) from None
        except Exception as error:  # a crashing program cannot be reviewed; report it like bad config
            raise ReviewError(
                f"the program failed: {type(error).__name__}: {error} "
                f"({len(registered)} resource(s) registered)"
            ) from None
    raise ReviewError("the review could not settle what to assume (a bug: please report it)")


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
