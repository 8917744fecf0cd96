"""Rendering a review: mask what the plan must not show, print the verdict table and summary, write the
objects, the resource tree and the verdicts.

Secrets never reach the output: written objects mask Pulumi secrets, Secret payloads, the ModelServer's
inline credential fields and every value the credential rule flags, and every printed or written string
goes through the kernel's redactor, which knows all of those values and anything shaped like a credential.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kernel.redact import Redactor
from offline.plan import Plan, PlannedResource
from policies import rules
from policies.review.running import CREDENTIAL_MASK, CREDENTIAL_POLICY, INFO_LEVEL, SECRET_MASK, Verdict

#: Shorter secret values are not scrubbed from free text: replacing every "ab" would mangle the report
#: while revealing nothing, since the structured masks already cover those values where they occur.
MIN_SCRUB_LENGTH = 4

KeyPath = tuple[Any, ...]


# ---------------------------------------------------------------------------------------------------------
# Redaction.
# ---------------------------------------------------------------------------------------------------------
def scrubber(values: Iterable[str] = ()) -> Redactor:
    """The review's redactor: known secret values and credential-shaped text, masked as CREDENTIAL_MASK.

    Why: messages of other rules may echo a value the credential rule flagged (plugin_config, hosts), and
    a ConfigError repeats the offending config value; nothing printed or written may carry a secret.
    """
    return Redactor(
        values,
        mask=CREDENTIAL_MASK,
        patterns=rules.CREDENTIAL_VALUE_PATTERNS.values(),
        min_length=MIN_SCRUB_LENGTH,
        # Whole values only: a line of a structured secret (a kubeconfig's "cluster:") is no secret alone,
        # and masking it would mangle resource types in the table and tree.
        lines=False,
    )


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
    redactor: Redactor = field(default_factory=scrubber)

    @classmethod
    def of(
        cls, result: Plan, credential_settings: Mapping[str, Any], placeholders: Iterable[str] = ()
    ) -> Masking:
        """Find flagged credentials and secret values across the whole plan; `placeholders` stand in for
        secrets the review does not have, and are never shown either."""
        flagged = {r.urn: flagged_credentials(r, credential_settings) for r in result.resources}
        values = [*placeholders, *(value for found in flagged.values() for _, value in found)]
        values += [value for r in result.resources for value in secret_values(r)]
        values += [v for key in result.secret_outputs for _, v in string_leaves(result.outputs.get(key))]
        for resource in result.resources:
            obj = resource.inputs
            values += [v for p in always_masked(obj) for _, v in string_leaves(get_path(obj, p))]
        return cls(flagged, scrubber(values))

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
