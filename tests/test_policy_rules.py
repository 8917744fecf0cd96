"""The policy pack as a whole: the catalogue and its layout by subject, the entry point, config files.

Why here and not per subject: these span every rule (order, levels, schemas, one module per subject) or
none (the entry point, config merging, the offline evaluation); each subject's own rules are tested in
tests/policies/test_<subject>.py, built with tests/policies/builders.py.
"""

from __future__ import annotations

import copy
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies import rules
from policies.rules import catalogue
from tests.policies.builders import (
    STACK,
    gateway,
    inference_service,
    model_server,
    node_pool,
    resource_urn,
    run_resource,
    seldon_deployment,
    virtual_service,
)


# ---------------------------------------------------------------------------------------------------------
# Catalogue and policy pack wiring.
# ---------------------------------------------------------------------------------------------------------
def test_catalogue_levels_and_schemas_are_consistent() -> None:
    assert [p.name for p in rules.POLICIES] == list(rules.POLICY_LEVELS)
    assert rules.POLICY_LEVELS["no-plaintext-credentials"] == "mandatory"
    assert rules.POLICY_LEVELS["serving-node-pools-intel"] == "mandatory"
    assert rules.POLICY_LEVELS["images-pinned"] == "mandatory"
    assert rules.POLICY_LEVELS["app-names-unique"] == "mandatory"
    assert rules.POLICY_LEVELS["virtualservice-hosts-unique"] == "mandatory"
    assert rules.POLICY_LEVELS["virtualservice-routes-to-server"] == "mandatory"
    assert rules.POLICY_LEVELS["gke-hardened"] == "advisory"
    assert rules.POLICY_LEVELS["prod-model-server-replicas"] == "advisory"
    assert rules.POLICY_LEVELS["serving-backend-maintained"] == "advisory"
    for policy in rules.POLICIES:
        assert policy.enforcement_level == EnforcementLevel(rules.POLICY_LEVELS[policy.name])
        assert "because" in policy.description, policy.name
        if policy.config_schema is not None:
            schema = {"type": "object", "properties": policy.config_schema.properties}
            jsonschema.Draft7Validator.check_schema(schema)
            defaults = {k: v["default"] for k, v in policy.config_schema.properties.items()}
            jsonschema.validate(defaults, schema)


def test_policy_pack_main_serves_policies() -> None:
    """Run __main__.py the way the CLI does (runpy on the directory): it prints its gRPC port and blocks."""
    policies_dir = Path(rules.__file__).parents[1]  # policies/, not policies/rules/
    process = subprocess.Popen(
        [sys.executable, "-c", "import runpy; runpy.run_path('.', run_name='__main__')"],
        cwd=policies_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline() if process.stdout else ""
        assert first_line.strip().isdigit(), (
            process.stderr.read() if process.poll() is not None else first_line
        )
        assert process.poll() is None  # still serving
    finally:
        process.kill()
        process.wait(timeout=10)


def test_every_rule_lives_in_the_module_of_its_subject() -> None:
    """Each subject module of policies/rules/ defines and lists its own rules; together: RULES, once each."""
    subjects = {module.__name__.rsplit(".", 1)[-1]: module for module in catalogue.SUBJECTS}
    infrastructure = {"common", "catalogue", "pack", "evaluate"}
    package = {info.name for info in pkgutil.iter_modules(rules.__path__)}
    assert package == set(subjects) | infrastructure  # a new subject module must join SUBJECTS
    listed = [rule for module in subjects.values() for rule in module.RULES]
    assert sorted(rule.name for rule in listed) == sorted(rule.name for rule in rules.RULES)
    assert len({rule.name for rule in listed}) == len(listed) == len(rules.RULES)  # no rule twice
    for name, module in subjects.items():
        specs = [value for value in vars(module).values() if isinstance(value, rules.RuleSpec)]
        assert {id(spec) for spec in specs} == {id(rule) for rule in module.RULES}, name
        checks = {key for key, value in vars(module).items()
                  if key.startswith("check_") and getattr(value, "__module__", None) == module.__name__}
        assert checks == {rule.check.__name__ for rule in module.RULES}, name  # no check without its rule
        for rule in module.RULES:
            assert rule.check.__module__ == module.__name__, rule.name
            # Named after the policy, so searching for the policy's name finds its module.
            assert getattr(module, rule.name.upper().replace("-", "_")) is rule
        assert (Path(__file__).parent / "policies" / f"test_{name}.py").is_file(), name


def test_rules_keep_the_pack_order() -> None:
    """The order Pulumi lists the policies in; the split into subject modules must not reorder them."""
    assert [rule.name for rule in rules.RULES] == [
        "serving-node-pools-intel",
        "model-server-resources",
        "model-server-nireq-bounded",
        "model-server-plugin-config",
        "no-plaintext-credentials",
        "images-pinned",
        "app-names-deterministic",
        "app-names-unique",
        "virtualservice-hosts-unique",
        "virtualservice-hosts-in-domain",
        "virtualservice-routes-to-server",
        "gke-hardened",
        "prod-model-server-replicas",
        "serving-backend-maintained",
    ]
    assert [policy.name for policy in rules.POLICIES] == [rule.name for rule in rules.RULES]
    assert all(getattr(rules, name) is not None for name in rules.__all__)


# ---------------------------------------------------------------------------------------------------------
# Config merge and offline evaluation.
# ---------------------------------------------------------------------------------------------------------
def test_merge_policy_config(tmp_path: Path) -> None:
    path = tmp_path / "policy-config.json"
    path.write_text(
        json.dumps(
            {
                "all": "advisory",
                "images-pinned": "disabled",
                "model-server-nireq-bounded": {"enforcementLevel": "mandatory", "nireq_per_core": 2},
                "virtualservice-hosts-in-domain": {"domain": "serving.example.com"},
            }
        )
    )
    levels, settings = rules.merge_policy_config(path)
    assert levels["images-pinned"] == "disabled"
    assert levels["model-server-nireq-bounded"] == "mandatory"
    assert levels["no-plaintext-credentials"] == "advisory"  # from "all"
    assert settings["model-server-nireq-bounded"] == {"nireq_per_core": 2}
    assert settings["virtualservice-hosts-in-domain"] == {"domain": "serving.example.com"}
    assert settings["prod-model-server-replicas"]["min_replicas"] == 2  # default kept


def test_merge_policy_config_defaults_without_file() -> None:
    levels, settings = rules.merge_policy_config(None)
    assert levels == dict(rules.POLICY_LEVELS)
    assert settings["images-pinned"]["floating_tags"][0] == "latest"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"no-such-policy": "advisory"}, "unknown policies"),
        ({"images-pinned": "sometimes"}, "enforcement level"),
        ({"images-pinned": {"require_digests": True}}, "unknown setting"),
        ({"model-server-nireq-bounded": {"nireq_per_core": "4"}}, "type integer"),
        ({"model-server-nireq-bounded": {"nireq_per_core": 0}}, ">= 1"),
    ],
)
def test_merge_policy_config_rejects_mistakes(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        rules.merge_policy_config(raw)


def test_evaluate_resource_without_grpc() -> None:
    found = rules.evaluate_resource(
        "no-plaintext-credentials", rules.MODEL_SERVER, model_server(), (), None, "ms"
    )
    assert len(found) == 2
    assert (
        rules.evaluate_resource("no-plaintext-credentials", rules.MODEL_SERVER, model_server(), ["spec"])
        == []
    )
    with pytest.raises(ValueError, match="stack policy"):
        rules.evaluate_resource("app-names-unique", rules.MODEL_SERVER, model_server())


def test_evaluate_stack_from_export_like_dicts() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}
    server = model_server("mnist", env="prod")
    server["spec"]["models_repository"]["aws_secret_access_key"] = secret
    server["spec"]["models_repository"]["aws_access_key_id"] = secret
    resources = [
        {"urn": resource_urn(rules.ISTIO_GATEWAY, "gw"), "type": rules.ISTIO_GATEWAY, "inputs": gateway()},
        {"urn": resource_urn(rules.MODEL_SERVER, "ms"), "type": rules.MODEL_SERVER, "inputs": server},
        {
            "urn": f"{STACK}::parent$" + rules.VIRTUAL_SERVICE + "::vs",
            "inputs": virtual_service(dest="ovms-x"),
        },
    ]
    results = rules.evaluate_stack(resources, {"images-pinned": "disabled"})
    assert "images-pinned" not in results
    assert results["no-plaintext-credentials"] == []  # ciphertext secrets are not plain text
    assert [ref for ref, _ in results["virtualservice-routes-to-server"]] == [resources[2]["urn"]]
    prod = results["prod-model-server-replicas"]
    assert [ref for ref, _ in prod] == [resource_urn(rules.MODEL_SERVER, "ms")]
    assert results["serving-node-pools-intel"] == []


def test_to_plain_normalises_numbers_unknowns_and_secrets() -> None:
    plain = rules.to_plain(
        unknown_checking_proxy({"a": 2.0, "b": [1.5, UNKNOWN_STRING_VALUE], "c": "[secret]"})
    )
    assert plain == {"a": 2, "b": [1.5, rules.UNKNOWN], "c": rules.SECRET}
    assert isinstance(plain["a"], int)


def test_unknown_values_do_not_raise_or_report() -> None:
    props = unknown_checking_proxy(copy.deepcopy(model_server()) | {"spec": UNKNOWN_STRING_VALUE})
    for policy in (
        "model-server-resources",
        "model-server-nireq-bounded",
        "model-server-plugin-config",
        "images-pinned",
        "prod-model-server-replicas",
    ):
        assert run_resource(policy, rules.MODEL_SERVER, props) == [], policy
    pool = unknown_checking_proxy(node_pool(machineType=UNKNOWN_STRING_VALUE))
    assert run_resource("serving-node-pools-intel", rules.GKE_NODE_POOL, pool) == []
    for resource_type, backend in (
        (rules.INFERENCE_SERVICE, inference_service()),
        (rules.SELDON_DEPLOYMENT, seldon_deployment()),
    ):
        unknown = unknown_checking_proxy(backend | {"spec": UNKNOWN_STRING_VALUE})
        for policy in ("model-server-resources", "images-pinned", "no-plaintext-credentials"):
            assert run_resource(policy, resource_type, unknown) == [], (policy, resource_type)
