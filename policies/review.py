"""Offline policy review of one stack: plan it under mocks, evaluate every policy, write what it would create.

Why: reviewers (and CI) need the policy pack's verdict on a stack change without a Pulumi CLI, cloud
credentials, a cluster or the network. The review runs the real program in-process with the stack's
`Pulumi.<stack>.yaml` (secure values stay placeholders, never decrypted), feeds the planned resources to
the very rules the policy pack serves (policies/rules/), prints one table of verdicts and writes the
planned Kubernetes objects plus a resource tree for reading.

    python -m policies.review --stack dev [--out DIR] [--config policy-config.json] [--root DIR]

Exit codes: 0 no blocking violation, 1 a mandatory (or remediate) policy is violated, 2 the review could
not run (bad usage, unknown stack file, invalid stack or policy config, program failure).

Secrets never reach the output: policies see Pulumi secrets as opaque `[secret]` values (as the engine
shows them to a policy pack), written objects mask Pulumi secrets, Secret payloads, the ModelServer's
inline credential fields and every value the credential rule flags, and every printed or written string
is scrubbed of all of those values and of anything shaped like a credential.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml


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
from components.config import ConfigError  # noqa: E402
from offline.plan import ROOT, Plan, PlannedResource, plan, read_stack_config, stack_file, stacks  # noqa: E402
from offline.schemas import validate  # noqa: E402
from policies import rules  # noqa: E402

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2

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
#: Shorter secret values are not scrubbed from free text: replacing every "ab" would mangle the report
#: while revealing nothing, since the structured masks already cover those values where they occur.
MIN_SCRUB_LENGTH = 4

KeyPath = tuple[Any, ...]
Program = Callable[[], Mapping[str, Any]]


class ReviewError(Exception):
    """The review cannot run (bad usage or config); the message says why and the exit code is 2."""


# ---------------------------------------------------------------------------------------------------------
# Redaction.
# ---------------------------------------------------------------------------------------------------------
class Redactor:
    """Scrub known secret values and credential-shaped text from strings; the last line of defence.

    Why: messages of other rules may echo a value the credential rule flagged (plugin_config, hosts), and
    a ConfigError repeats the offending config value; nothing printed or written may carry a secret.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another secret is replaced whole.
        self.values = sorted({v for v in values if len(v) >= MIN_SCRUB_LENGTH}, key=len, reverse=True)

    def text(self, text: str) -> str:
        """The text with every known secret value and credential-shaped substring replaced."""
        for value in self.values:
            text = text.replace(value, CREDENTIAL_MASK)
        for pattern in rules.CREDENTIAL_VALUE_PATTERNS.values():
            text = pattern.sub(CREDENTIAL_MASK, text)
        return text

    def data(self, value: Any) -> Any:
        """A copy of a plain structure with every string leaf scrubbed (keys too)."""
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return self.text(value) if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------------------------
# Plain-structure helpers.
# ---------------------------------------------------------------------------------------------------------
def string_leaves(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    """(path, text) of every string leaf of a plain structure."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, (*path, index))
    elif isinstance(value, str):
        yield path, value


def get_path(value: Any, path: KeyPath) -> Any:
    """The value at a path, or None when any step is missing."""
    for step in path:
        in_dict = isinstance(value, dict) and step in value
        in_list = isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value)
        if not (in_dict or in_list):
            return None
        value = value[step]
    return value


def replaced(value: Any, path: KeyPath, replacement: Any) -> Any:
    """A copy of the structure with the value at `path` replaced (structure shared off the path)."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, replacement)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, replacement)
    return copy


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


# ---------------------------------------------------------------------------------------------------------
# Masking of written objects.
# ---------------------------------------------------------------------------------------------------------
def credential_count(resource: PlannedResource, props: Mapping[str, Any], settings: Mapping[str, Any]) -> int:
    """How many plain-text credentials the credential rule finds in these props."""
    return len(
        rules.evaluate_resource(
            CREDENTIAL_POLICY,
            resource.type,
            props,
            resource.additional_secret_outputs,
            config=settings,
            name=resource.name,
        )
    )


def flagged_credentials(resource: PlannedResource, settings: Mapping[str, Any]) -> list[tuple[KeyPath, str]]:
    """(path, value) of every plain-text leaf the credential rule flags in a resource's inputs.

    Found by asking the rule itself, one leaf masked at a time, rather than re-implementing its
    heuristics: a leaf is flagged when masking it removes a violation. Runs whatever the rule's level
    (even disabled), because masking is about the files written, not about the verdict.
    """
    props = resource.masked_inputs(SECRET_MASK)
    baseline = credential_count(resource, props, settings)
    if baseline == 0:
        return []
    flagged = []
    for path, value in string_leaves(props):
        if (
            value != SECRET_MASK
            and credential_count(resource, replaced(props, path, SECRET_MASK), settings) < baseline
        ):
            flagged.append((path, value))
    return flagged


def always_masked(obj: Mapping[str, Any]) -> list[KeyPath]:
    """Paths masked in every written object whatever the rules say: a Secret's payload, inline credentials.

    Why: the credential rule allows these places to hold credentials, so it never flags them, but a file
    on disk must not carry them either way.
    """
    paths: list[KeyPath] = [p for p in rules.MODEL_SERVER_INLINE_CREDENTIALS if get_path(obj, p) is not None]
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        for (payload,) in rules.SECRET_PAYLOAD_FIELDS:
            entries = obj.get(payload)
            if isinstance(entries, dict):
                paths.extend((payload, key) for key in entries)
    return paths


def secret_values(resource: PlannedResource) -> list[str]:
    """The string values under a resource's Pulumi secret paths (to scrub them from any text)."""
    return [
        text for path in resource.secret_paths for _, text in string_leaves(get_path(resource.inputs, path))
    ]


@dataclass
class Masking:
    """Which values of the plan must never be shown, and where they sit in each resource."""

    flagged: dict[str, list[tuple[KeyPath, str]]] = field(default_factory=dict)
    redactor: Redactor = field(default_factory=Redactor)

    @classmethod
    def of(cls, result: Plan, credential_settings: Mapping[str, Any]) -> Masking:
        """Find flagged credentials and secret values across the whole plan."""
        flagged = {r.urn: flagged_credentials(r, credential_settings) for r in result.resources}
        values = [value for found in flagged.values() for _, value in found]
        values += [value for r in result.resources for value in secret_values(r)]
        values += [v for key in result.secret_outputs for _, v in string_leaves(result.outputs.get(key))]
        for resource in result.resources:
            obj = resource.inputs
            values += [v for p in always_masked(obj) for _, v in string_leaves(get_path(obj, p))]
        return cls(flagged, Redactor(values))

    def written_object(self, resource: PlannedResource) -> dict[str, Any]:
        """A Kubernetes object safe to write: secrets, payloads and flagged credentials masked, scrubbed."""
        obj = resource.masked_inputs(SECRET_MASK)
        for path in always_masked(obj):
            if get_path(obj, path) != SECRET_MASK:  # a Pulumi secret already shows as one
                obj = replaced(obj, path, CREDENTIAL_MASK)
        for path, _ in self.flagged.get(resource.urn, []):
            obj = replaced(obj, path, CREDENTIAL_MASK)
        return self.redactor.data(obj)


# ---------------------------------------------------------------------------------------------------------
# Rendering.
# ---------------------------------------------------------------------------------------------------------
def short_type(type_: str) -> str:
    """`kubernetes:networking.istio.io/v1beta1:VirtualService` -> `kubernetes:VirtualService`."""
    package, _, rest = type_.partition(":")
    return f"{package}:{rest.rsplit(':', 1)[-1]}" if rest else type_


def table(result: Plan, verdicts: Sequence[Verdict]) -> list[str]:
    """One row per finding, resources in registration order; a `pass` row for a resource without any."""
    by_urn: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        by_urn.setdefault(verdict.urn, []).append(verdict)
    rows = [("RESOURCE", "TYPE", "POLICY", "LEVEL", "VERDICT", "MESSAGE")]
    for resource in result.resources:
        found = by_urn.pop(resource.urn, [])
        name, type_ = resource.name, short_type(resource.type)
        rows += [(name, type_, v.policy, v.level, v.mark, v.message) for v in found]
        if not found:
            rows.append((name, type_, "-", "-", "pass", ""))
    # Stack findings that name no planned resource (a ref by name, say) still get a row.
    rows += [("(stack)", "-", v.policy, v.level, v.mark, v.message) for vs in by_urn.values() for v in vs]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[5]]).rstrip()
        for row in rows
    ]


def tree(stack: str, result: Plan, verdicts: Sequence[Verdict]) -> str:
    """The parent/child tree of the plan, each resource with its type and the policies it fails or warns."""
    index = result.by_urn()
    children: dict[str, list[PlannedResource]] = {}
    for resource in result.resources:
        children.setdefault(resource.parent if resource.parent in index else "", []).append(resource)
    marks: dict[str, set[str]] = {}
    for verdict in verdicts:
        marks.setdefault(verdict.urn, set()).add(f"{verdict.mark} {verdict.policy}")
    lines = [f"stack {stack} ({len(result.resources)} resources)"]

    def walk(parent: str, indent: str) -> None:
        siblings = children.get(parent, [])
        for position, resource in enumerate(siblings):
            last = position == len(siblings) - 1
            note = "; ".join(sorted(marks.get(resource.urn, ())))
            lines.append(
                f"{indent}{'`-- ' if last else '|-- '}{resource.name}  [{resource.type}]"
                + (f"  <- {note}" if note else "")
            )
            walk(resource.urn, indent + ("    " if last else "|   "))

    walk("", "")
    return "\n".join(lines) + "\n"


def summary(stack: str, result: Plan, verdicts: Sequence[Verdict], levels: Mapping[str, str]) -> str:
    """The last line: outcome, counts of resources, policies and findings by kind."""
    blocking = sum(v.blocking for v in verdicts)
    advisory = sum(not v.blocking and v.level != INFO_LEVEL for v in verdicts)
    notes = sum(v.level == INFO_LEVEL for v in verdicts)
    disabled = sum(level == "disabled" for level in levels.values())
    objects = sum(r.kubernetes_object for r in result.resources)
    outcome = "FAILED" if blocking else "PASSED"
    return (
        f"review {outcome}: stack {stack}, {len(result.resources)} resources ({objects} Kubernetes objects), "
        f"{len(levels) - disabled} policies ({disabled} disabled): {blocking} blocking violation(s), "
        f"{advisory} advisory warning(s), {notes} schema note(s)"
    )


# ---------------------------------------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def object_file_name(resource: PlannedResource, taken: set[str]) -> str:
    """`<kind>-<pulumi name>.yaml`, lower case; Pulumi names keep duplicates (same k8s name) apart."""
    kind = str(resource.inputs.get("kind") or short_type(resource.type))
    stem = _UNSAFE.sub("-", f"{kind}-{resource.name}".lower()).strip("-")
    name, counter = f"{stem}.yaml", 2
    while name in taken:
        name, counter = f"{stem}-{counter}.yaml", counter + 1
    taken.add(name)
    return name


def verdict_records(result: Plan, verdicts: Sequence[Verdict]) -> list[dict[str, str]]:
    """The findings as plain records (for verdicts.json): resource name and type beside each one."""
    index = result.by_urn()
    records = []
    for verdict in verdicts:
        resource = index.get(verdict.urn)
        records.append(
            {
                "resource": resource.name if resource else verdict.urn,
                "type": resource.type if resource else "",
                "urn": verdict.urn,
                "policy": verdict.policy,
                "level": verdict.level,
                "verdict": verdict.mark,
                "message": verdict.message,
            }
        )
    return records


def write_review(
    out: Path, result: Plan, masking: Masking, tree_text: str, verdicts: Sequence[Verdict]
) -> list[Path]:
    """Write each Kubernetes object (masked) to out/objects/, the tree to tree.txt, findings to verdicts.json.

    Stale object files of an earlier review are removed first, so the folder always shows this plan; only
    `*.yaml` directly in out/objects/, the review's own folder, is ever deleted.
    """
    objects_dir = out / "objects"
    objects_dir.mkdir(parents=True, exist_ok=True)
    for stale in objects_dir.glob("*.yaml"):
        stale.unlink()
    written, taken = [], set()
    for resource in result.resources:
        if not resource.kubernetes_object:
            continue
        path = objects_dir / object_file_name(resource, taken)
        # Sorted keys put apiVersion, kind, metadata, spec in Kubernetes' usual order and diff cleanly.
        path.write_text(yaml.safe_dump(masking.written_object(resource), sort_keys=True), encoding="utf-8")
        written.append(path)
    tree_path = out / "tree.txt"
    tree_path.write_text(masking.redactor.text(tree_text), encoding="utf-8")
    # Machine-readable findings for CI annotations (and tests), scrubbed like everything else.
    verdicts_path = out / "verdicts.json"
    records = masking.redactor.data(verdict_records(result, verdicts))
    verdicts_path.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return [*written, tree_path, verdicts_path]


# ---------------------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------------------
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
    config, secret_keys = read_stack(args.stack, args.root)
    result = run_program(args.stack, config, secret_keys, program)
    masking = Masking.of(result, settings[CREDENTIAL_POLICY])
    verdicts = evaluate(result, raw_config, levels)
    verdicts += [
        note
        for r in result.resources
        if r.kubernetes_object
        for note in schema_notes(r, masking.written_object(r))
    ]
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
        print(f"error: {Redactor().text(str(error))}", file=err)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
