"""The Pulumi policy objects: each rule wrapped as a Resource- or StackValidationPolicy, and POLICIES.

Why apart: the wrappers only convert the SDK's arguments to plain values and report what a check returns;
building them does not start the analyzer (only PolicyPack(...) in policies/__main__.py does, and blocks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .catalogue import RULES, policy_settings
from .common import RuleSpec, StackResource, to_plain


def _resource_validator(rule: RuleSpec) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        secret_outputs = tuple(getattr(args.opts, "additional_secret_outputs", None) or ())
        props = to_plain(args.props)
        messages = rule.check(args.resource_type, props if isinstance(props, Mapping) else {},
                              policy_settings(rule.name, args.get_config()), name=args.name,
                              secret_outputs=secret_outputs)
        for message in messages:
            report_violation(message, None)
    return validate


def _stack_resource(resource: Any) -> StackResource:
    """A StackResource from an SDK PolicyResource."""
    props = to_plain(resource.props)
    secret_outputs = tuple(getattr(resource.opts, "additional_secret_outputs", None) or ())
    return StackResource(resource.resource_type, props if isinstance(props, Mapping) else {}, resource.urn,
                         resource.name, secret_outputs)


def _stack_validator(rule: RuleSpec) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [_stack_resource(r) for r in args.resources]
        for ref, message in rule.check(resources, policy_settings(rule.name, args.get_config())):
            report_violation(message, ref if ref.startswith("urn:") else None)
    return validate


def _config_schema(rule: RuleSpec) -> PolicyConfigSchema | None:
    if not rule.settings:
        return None
    return PolicyConfigSchema(properties={key: dict(schema) for key, schema in rule.settings.items()})


def build_policy(rule: RuleSpec) -> ResourceValidationPolicy | StackValidationPolicy:
    """The Pulumi policy object for one rule."""
    if rule.stack:
        return StackValidationPolicy(name=rule.name, description=rule.description,
                                     enforcement_level=rule.level, config_schema=_config_schema(rule),
                                     validate=_stack_validator(rule))
    return ResourceValidationPolicy(name=rule.name, description=rule.description,
                                    enforcement_level=rule.level, config_schema=_config_schema(rule),
                                    validate=_resource_validator(rule))


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [build_policy(rule) for rule in RULES]
