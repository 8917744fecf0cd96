"""Offline evaluation: run the rules over resources as plain dicts, without the Pulumi analyzer's gRPC server.

Why: the offline review (policies/review/) and the tests judge a plan with exactly the checks the pack
serves, so they call these instead of a second copy of the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel

from .catalogue import RULES, RULES_BY_NAME, merge_policy_config, policy_settings
from .common import StackResource, to_plain


def evaluate_resource(policy_name: str, resource_type: str, props: Mapping[str, Any],
                      opts_additional_secret_outputs: Sequence[str] = (),
                      config: Mapping[str, Any] | None = None, name: str = "") -> list[str]:
    """Run one resource policy on one resource without the gRPC server; returns violation messages.

    `config` is that policy's settings (schema defaults fill the rest).
    """
    rule = RULES_BY_NAME[policy_name]
    if rule.stack:
        raise ValueError(f"{policy_name} is a stack policy; use evaluate_stack")
    plain = to_plain(props)
    return rule.check(resource_type, plain if isinstance(plain, Mapping) else {},
                      policy_settings(policy_name, config), name=name,
                      secret_outputs=tuple(opts_additional_secret_outputs))


def stack_resource_from_dict(entry: Mapping[str, Any] | StackResource) -> StackResource:
    """A StackResource from a dict as found in `pulumi stack export` / preview JSON or built by hand.

    Keys: type|resource_type, props|inputs|outputs, urn, name (else taken from the URN),
    additionalSecretOutputs|additional_secret_outputs|secret_outputs.
    """
    if isinstance(entry, StackResource):
        return entry
    urn = str(entry.get("urn") or "")
    # URN: urn:pulumi:<stack>::<project>::<parent$...$type>::<name>
    urn_type = urn.split("::")[2].rsplit("$", 1)[-1] if urn.count("::") >= 3 else ""
    resource_type = entry.get("resource_type") or entry.get("type") or urn_type
    props = next((entry[k] for k in ("props", "inputs", "outputs") if isinstance(entry.get(k), Mapping)), {})
    secret_outputs = next((entry[k] for k in ("additionalSecretOutputs", "additional_secret_outputs",
                                              "secret_outputs") if entry.get(k)), ())
    name = str(entry.get("name") or (urn.rsplit("::", 1)[-1] if urn else ""))
    plain = to_plain(props)
    return StackResource(str(resource_type), plain if isinstance(plain, Mapping) else {}, urn, name,
                         tuple(secret_outputs))


def evaluate_stack(resources: Sequence[Mapping[str, Any] | StackResource],
                   config: str | Path | Mapping[str, Any] | None = None) -> dict[str, list[tuple[str, str]]]:
    """Run every enabled policy (resource and stack) over a stack without the gRPC server.

    `config` is a Pulumi policy config (file path or mapping).  Returns policy name ->
    [(urn or name, message)] for each enabled policy (an empty list when it passed); combine with the
    levels from merge_policy_config to decide what blocks.
    """
    levels, settings = merge_policy_config(config)
    stack = [stack_resource_from_dict(r) for r in resources]
    results: dict[str, list[tuple[str, str]]] = {}
    for rule in RULES:
        if levels[rule.name] == EnforcementLevel.DISABLED.value:
            continue
        if rule.stack:
            results[rule.name] = list(rule.check(stack, settings[rule.name]))
            continue
        results[rule.name] = [(r.ref, message) for r in stack
                              for message in rule.check(r.resource_type, r.props, settings[rule.name],
                                                        name=r.name, secret_outputs=r.secret_outputs)]
    return results
