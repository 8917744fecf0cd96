"""Credential rule (policies/rules/credentials.py): no credential in plain text in any resource input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies import rules
from tests.policies.builders import (
    AWS_KEY_ID,
    AWS_SECRET,
    deployment,
    inference_service,
    model_server,
    run_resource,
    seldon_deployment,
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


# ---------------------------------------------------------------------------------------------------------
# no-plaintext-credentials on the serving backends' kinds.
# ---------------------------------------------------------------------------------------------------------
S3_ENV = [
    {"name": "AWS_ACCESS_KEY_ID", "value": AWS_KEY_ID},
    {"name": "AWS_SECRET_ACCESS_KEY", "value": AWS_SECRET},
]


def test_backend_objects_as_planned_pass() -> None:
    for resource_type, props in [
        (rules.SELDON_DEPLOYMENT, seldon_deployment()),
        (rules.INFERENCE_SERVICE, inference_service()),
        (rules.INFERENCE_SERVICE, inference_service(modelmesh=True)),
    ]:
        assert run_resource("no-plaintext-credentials", resource_type, props) == [], resource_type


def test_seldon_component_env_in_plain_text_flagged() -> None:
    props = seldon_deployment(env=S3_ENV)
    found = run_resource("no-plaintext-credentials", rules.SELDON_DEPLOYMENT, props, name="sd")
    assert len(found) == 2, found
    assert "spec.predictors[0].componentSpecs[0].spec.containers[0].env[1] AWS_SECRET_ACCESS_KEY=" in found[1]
    assert all("envSecretRefName" in f and 'SeldonDeployment "sd"' in f for f in found)
    assert AWS_SECRET not in "\n".join(found)
    rclone = seldon_deployment()
    rclone["spec"]["predictors"][0]["graph"]["parameters"] = [
        {"name": "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "type": "STRING", "value": AWS_SECRET}
    ]
    (problem,) = run_resource("no-plaintext-credentials", rules.SELDON_DEPLOYMENT, rclone)
    assert "graph.parameters[0] RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=" in problem


def test_inference_service_env_and_storage_uri_flagged() -> None:
    props = inference_service(env=S3_ENV[1:], storageUri="s3://minio:hunter2hunter2@models/mnist")
    found = run_resource("no-plaintext-credentials", rules.INFERENCE_SERVICE, props)
    uri, env = found
    assert "spec.predictor.model.env[0] AWS_SECRET_ACCESS_KEY=" in env and "serviceAccountName" in env
    assert "user:password" in uri and "spec.predictor.model.storageUri" in uri


def test_pulumi_secret_env_values_are_opaque() -> None:
    # The engine shows Pulumi secrets to a policy as "[secret]": not plain text, never reported.
    secret_env = [{"name": "AWS_SECRET_ACCESS_KEY", "value": "[secret]"}]
    props = seldon_deployment(env=secret_env)
    assert run_resource("no-plaintext-credentials", rules.SELDON_DEPLOYMENT, props) == []
    isvc = inference_service(env=secret_env)
    assert run_resource("no-plaintext-credentials", rules.INFERENCE_SERVICE, isvc) == []


def storage_config_entry() -> str:
    """One ModelMesh storage-config entry: JSON text holding the bucket's keys."""
    return json.dumps({"type": "s3", "access_key_id": "minio", "secret_access_key": AWS_SECRET})


def test_storage_config_json_only_inside_a_secret() -> None:
    props = {"metadata": {"name": "storage-config"}, "stringData": {"s3-models": storage_config_entry()}}
    assert run_resource("no-plaintext-credentials", rules.K8S_SECRET, props) == []
    config_map = {"metadata": {"name": "storage-config"}, "data": {"s3-models": storage_config_entry()}}
    found = run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", config_map)
    assert len(found) == 2, found
    assert "data.s3-models.access_key_id" in found[0] and "data.s3-models.secret_access_key" in found[1]
    annotated = inference_service(modelmesh=True)
    annotated["metadata"]["annotations"]["example.com/storage"] = storage_config_entry()
    _, secret = run_resource("no-plaintext-credentials", rules.INFERENCE_SERVICE, annotated)
    assert "metadata.annotations.example.com/storage.secret_access_key" in secret and AWS_SECRET not in secret
    # Built from Pulumi secrets, the whole entry is one secret (as the modelmesh backend builds it).
    opaque = {"data": {"s3-models": "[secret]"}}
    assert run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", opaque) == []
