"""Credential rule (policies/rules/credentials.py): no credential in plain text in any resource input."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies import rules
from tests.policies.builders import (
    AWS_KEY_ID,
    AWS_SECRET,
    deployment,
    model_server,
    run_resource,
)


# ---------------------------------------------------------------------------------------------------------
# no-plaintext-credentials.
# ---------------------------------------------------------------------------------------------------------
def test_model_server_inline_credentials_allowed_only_with_secret_spec() -> None:
    assert (
        run_resource("no-plaintext-credentials", rules.MODEL_SERVER, model_server(), secret_outputs=["spec"])
        == []
    )
    found = run_resource("no-plaintext-credentials", rules.MODEL_SERVER, model_server(), name="ms")
    assert len(found) == 2, found
    assert all("additionalSecretOutputs" in f and 'ModelServer "ms"' in f for f in found)
    assert AWS_SECRET not in "\n".join(found)  # messages never echo the credential


def test_model_server_credentials_elsewhere_still_flagged_with_secret_spec() -> None:
    props = model_server(model_path=f"s3://{AWS_KEY_ID}:{AWS_SECRET}@models/mnist")
    found = run_resource("no-plaintext-credentials", rules.MODEL_SERVER, props, secret_outputs=["spec"])
    assert len(found) == 1 and "spec.models_settings.model_path" in found[0]


def test_reference_fields_are_not_credentials() -> None:
    props = model_server()
    props["spec"]["models_repository"] = {"storage_type": "google", "gcp_creds_secret_name": "gcp-creds"}
    env = [
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "secret"}}},
        {"name": "LOG_LEVEL", "value": "INFO"},
    ]
    pod = deployment("quay.io/op:1.0", env)
    pod["spec"]["template"]["spec"]["volumes"] = [{"name": "creds", "secret": {"secretName": "gcp-creds"}}]
    pod["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    assert run_resource("no-plaintext-credentials", rules.MODEL_SERVER, props) == []
    assert run_resource("no-plaintext-credentials", "kubernetes:apps/v1:Deployment", pod) == []


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (deployment("x:1", [{"name": "AWS_SECRET_ACCESS_KEY", "value": "hunter2hunter2"}]), "use valueFrom"),
        ({"metadata": {"name": "cm", "annotations": {"example.com/api-token": "abc123"}}}, "annotations"),
        ({"data": {"DB_PASSWORD": "hunter2"}}, "data.DB_PASSWORD"),
        ({"data": {"config": f"key: {AWS_KEY_ID}"}}, "AWS access key id"),
        ({"data": {"tls": "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."}}, "PEM private key"),
        ({"data": {"url": "postgres://admin:s3cret@db:5432/app"}}, "user:password"),
        ({"data": {"curl": "curl -H 'X: Bearer abcdefghijklmnopqrstuvwxyz'"}}, "bearer token"),
        (
            {"spec": {"headers": {"request": {"set": {"Authorization": "Basic dXNlcjpwYXNz"}}}}},
            "Authorization",
        ),
        (
            {"data": {"azure": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abcd=="}},
            "Azure storage",
        ),
    ],
)
def test_plaintext_credentials_flagged(props: dict[str, Any], expected: str) -> None:
    found = run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", props, name="leaky")
    assert len(found) == 1 and expected in found[0] and 'ConfigMap "leaky"' in found[0], found


def test_kubernetes_secret_payload_is_allowed() -> None:
    props = {
        "metadata": {"name": "s3"},
        "stringData": {"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_ACCESS_KEY_ID": AWS_KEY_ID},
    }
    assert run_resource("no-plaintext-credentials", rules.K8S_SECRET, props) == []
    assert run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", props)


def test_credentials_check_tolerates_unknown_preview_values() -> None:
    props = unknown_checking_proxy(
        {
            "metadata": {"name": UNKNOWN_STRING_VALUE},
            "data": {"password": UNKNOWN_STRING_VALUE, "token": "abc123abc"},
        }
    )
    found = run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", props)
    assert len(found) == 1 and "data.token" in found[0]


def test_extra_reference_fields_config() -> None:
    props = {"spec": {"vaultToken": "path/in/vault"}}
    assert run_resource("no-plaintext-credentials", "kubernetes:example.com/v1:Thing", props)
    assert (
        run_resource(
            "no-plaintext-credentials",
            "kubernetes:example.com/v1:Thing",
            props,
            config={"extra_reference_fields": ["vaultToken"]},
        )
        == []
    )


@pytest.mark.parametrize(
    ("key", "credential"),
    [
        ("aws_secret_access_key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("azure_storage_connection_string", True),
        ("apiKey", True),
        ("privateKey", True),
        ("password", True),
        ("gcp_creds_secret_name", False),
        ("secretName", False),
        ("secretKeyRef", False),
        ("valueFrom", False),
        ("existingSecret", False),
        ("model_path", False),
        ("tokenUrl", False),
    ],
)
def test_is_credential_name(key: str, credential: bool) -> None:
    assert rules.is_credential_name(key) is credential
