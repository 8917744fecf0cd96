"""Mapping of the FuseML step environment onto the core's raw config, and the core's verdict on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import MODEL_DEFAULTS, StackConfig
from kernel.errors import StepInputError
from step import gateway, inputs

MODEL_URL = "s3://mlflow-artifacts/0/0123abcd/artifacts/model/ovms"

#: Every model input FuseML can pass, with a valid raw string value for each.
ALL_MODEL_INPUTS = {
    "FUSEML_MODEL": MODEL_URL,
    "FUSEML_BACKEND": "auto",
    "FUSEML_FORMAT": "openvino",
    # FuseML passes "" for an input the workflow leaves out: these belong to other backends.
    "FUSEML_SERVER": "",
    "FUSEML_RUNTIME": "",
    "FUSEML_RUNTIME_VERSION": "",
    "FUSEML_PROTOCOL_VERSION": "",
    "FUSEML_MODEL_NAME": "cifar10",
    "FUSEML_OVMS_IMAGE_TAG": "2022.1",
    "FUSEML_LOGLEVEL": "DEBUG",
    "FUSEML_NIREQ": "4",
    "FUSEML_PLUGIN_CONFIG": '{"CPU_THROUGHPUT_STREAMS": "1"}',
    "FUSEML_BATCH_SIZE": "auto",
    "FUSEML_SHAPE": "(1,3,224,224)",
    "FUSEML_TARGET_DEVICE": "CPU",
    "FUSEML_LAYOUT": "NHWC",
    "FUSEML_MODEL_VERSION_POLICY": '{"latest": {"num_versions": 1}}',
    "FUSEML_REPLICAS": "2",
    "FUSEML_RESOURCES": '{"requests": {"cpu": 1}}',
    "FUSEML_RESOURCES_LIMITS": "{cpu: 2}",
    "FUSEML_PREDICTION_TYPE": "classify",
    "FUSEML_ADOPT": "false",
    "FUSEML_READY_TIMEOUT_S": "300",
}


def step_env(**extra: str) -> dict[str, str]:
    """A complete, valid step environment (an explicit app name, S3 credentials, the Istio domain)."""
    env = {
        "FUSEML_APP_NAME": "cifar10-ovms",
        "FUSEML_MODEL": MODEL_URL,
        "FUSEML_ENV_WORKFLOW_NAME": "mlflow-ovms-pulumi",
        "FUSEML_ENV_WORKFLOW_NAMESPACE": "fuseml-workloads",
        "FUSEML_SERVING_DOMAIN": "10.0.0.1.nip.io",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIexamplesecret",
        "TASK_RESULT": "prediction-url",
    }
    env.update(extra)
    return env


def read(env: dict[str, str], tmp_path: Path) -> inputs.StepInputs:
    return inputs.read(env, tmp_path)


def test_every_model_input_is_passed_through_unchanged(tmp_path: Path) -> None:
    got = read(step_env(**ALL_MODEL_INPUTS), tmp_path).raw["models"]
    expected = {
        key.removeprefix("FUSEML_").lower(): value for key, value in ALL_MODEL_INPUTS.items() if value
    }
    assert got == [{"app_name": "cifar10-ovms", **expected}]


def test_the_model_inputs_are_the_core_model_keys() -> None:
    assert set(inputs.MODEL_KEYS) == {"model", *MODEL_DEFAULTS}
    assert {inputs.model_env(k) for k in inputs.MODEL_KEYS} == set(ALL_MODEL_INPUTS)


def test_all_inputs_validate_into_the_core_config(tmp_path: Path) -> None:
    cfg = inputs.validate(read(step_env(**ALL_MODEL_INPUTS), tmp_path))
    assert isinstance(cfg, StackConfig)
    (model,) = cfg.models
    assert (model.app_name, model.model, model.nireq, model.replicas) == ("cifar10-ovms", MODEL_URL, 4, 2)
    assert (model.batch_size, model.prediction_type, model.limits["cpu"]) == ("auto", "classify", "2")
    assert model.requests["cpu"] == "1"


def test_empty_inputs_mean_not_set_so_core_defaults_apply(tmp_path: Path) -> None:
    env = step_env(FUSEML_NIREQ="", FUSEML_MODEL_NAME=" ", FUSEML_REPLICAS="")
    step = read(env, tmp_path)
    assert step.raw["models"] == [{"app_name": "cifar10-ovms", "model": MODEL_URL}]
    (model,) = inputs.validate(step).models
    assert (model.model_name, model.nireq, model.replicas) == ("default", None, 1)


def test_stack_settings_for_a_step(tmp_path: Path) -> None:
    env = step_env(
        FUSEML_ENV_WORKFLOW_NAMESPACE="ml-team",
        FUSEML_SERVER_URL="http://fuseml-core.example:80",
        FUSEML_GATEWAY="istio-system/ovms",
        MLFLOW_S3_ENDPOINT_URL="http://mlflow-minio.mlflow:9000",
        AWS_DEFAULT_REGION="eu-west-1",
    )
    raw = read(env, tmp_path).raw
    assert raw["cluster"] == {"mode": "existing"}
    assert raw["operator"] == {"install": False}
    assert raw["namespace"] == "ml-team"
    assert raw["istio"] == {"domain": "10.0.0.1.nip.io", "gateway": "istio-system/ovms"}
    assert raw["storage"] == {"s3_endpoint": "http://mlflow-minio.mlflow:9000", "aws_region": "eu-west-1"}
    assert raw["fuseml"] == {"url": "http://fuseml-core.example:80", "workflow": "mlflow-ovms-pulumi"}


def test_defaults_of_the_step_settings(tmp_path: Path) -> None:
    env = step_env()
    del env["FUSEML_ENV_WORKFLOW_NAMESPACE"]
    step = read(env, tmp_path)
    assert "namespace" not in step.raw
    assert step.raw["fuseml"]["url"] == inputs.DEFAULT_FUSEML_URL
    assert step.verbose is False
    assert step.lock_timeout_s == 300
    assert step.result_file == Path("/tekton/results/prediction-url")
    cfg = inputs.validate(step)
    assert (cfg.namespace, cfg.cluster.mode, cfg.operator.install) == ("fuseml-workloads", "existing", False)


def test_s3_endpoint_prefers_s3_endpoint_and_istio_domain_alias(tmp_path: Path) -> None:
    env = step_env(S3_ENDPOINT="http://a:9000", MLFLOW_S3_ENDPOINT_URL="http://b:9000", ISTIO_DOMAIN="x.io")
    del env["FUSEML_SERVING_DOMAIN"]
    raw = read(env, tmp_path).raw
    assert raw["storage"]["s3_endpoint"] == "http://a:9000"
    assert raw["istio"]["domain"] == "x.io"


def test_credentials_become_secrets_not_config(tmp_path: Path) -> None:
    creds = tmp_path / "sa.json"
    # A service-account key's shape (modelstore refuses any other file): the fields google-auth requires.
    key = '{"type": "service_account", "client_email": "e", "private_key": "k", "token_uri": "https://t"}'
    creds.write_text(key)
    env = step_env(
        AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https",
        GOOGLE_APPLICATION_CREDENTIALS=str(creds),
    )
    step = read(env, tmp_path)
    assert step.secrets == {
        "aws_access_key_id": "AKIAEXAMPLEKEY",
        "aws_secret_access_key": "wJalrXUtnFEMIexamplesecret",
        "azure_storage_connection_string": "DefaultEndpointsProtocol=https",
        "gcs_credentials": key,
    }
    assert "AKIAEXAMPLEKEY" not in repr(step.raw)


def test_unreadable_gcs_credentials_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match=r"GOOGLE_APPLICATION_CREDENTIALS='/nope\.json' cannot be read"):
        read(step_env(GOOGLE_APPLICATION_CREDENTIALS="/nope.json"), tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("True", True), ("false", False), ("", False)]
)
def test_verbose_flag(tmp_path: Path, text: str, expected: bool) -> None:
    assert read(step_env(FUSEML_VERBOSE=text), tmp_path).verbose is expected


def test_bad_verbose_flag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match="FUSEML_VERBOSE: got 'maybe'; allowed: true or false"):
        read(step_env(FUSEML_VERBOSE="maybe"), tmp_path)


def test_lock_timeout(tmp_path: Path) -> None:
    assert read(step_env(FUSEML_SERVING_LOCK_TIMEOUT_S="12.5"), tmp_path).lock_timeout_s == 12.5
    with pytest.raises(StepInputError, match="FUSEML_SERVING_LOCK_TIMEOUT_S: got '-1'"):
        read(step_env(FUSEML_SERVING_LOCK_TIMEOUT_S="-1"), tmp_path)
    with pytest.raises(StepInputError, match="allowed: a number of seconds >= 0"):
        read(step_env(FUSEML_SERVING_LOCK_TIMEOUT_S="soon"), tmp_path)


def test_result_file_is_named_by_task_result(tmp_path: Path) -> None:
    step = read(step_env(FUSEML_SERVING_RESULTS_DIR=str(tmp_path)), tmp_path)
    assert step.result_file == tmp_path / "prediction-url"


@pytest.mark.parametrize(("value", "message"), [("", "TASK_RESULT is not set"), ("../x", "not a path")])
def test_bad_task_result_is_refused_before_deploying(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(StepInputError, match=message):
        read(step_env(TASK_RESULT=value), tmp_path)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "FUSEML_NIREQ",
            "four",
            "models[0].nireq (app 'cifar10-ovms'): got 'four'; allowed: a positive integer",
        ),
        ("FUSEML_REPLICAS", "0", "models[0].replicas (app 'cifar10-ovms'): got '0'"),
        (
            "FUSEML_BATCH_SIZE",
            "big",
            "allowed: a positive integer, -1 (any batch), a range like 1:8, or 'auto'",
        ),
        ("FUSEML_RESOURCES", '{"requests": {"cpu": "lots"}}', "models[0].resources.requests.cpu"),
        ("FUSEML_RESOURCES_LIMITS", "{cpu: [}", "models[0].resources_limits"),
        ("FUSEML_PREDICTION_TYPE", "guess", "allowed: one of predict, classify, regress"),
        ("FUSEML_OVMS_IMAGE_TAG", "latest", "a pinned image tag"),
        ("FUSEML_TARGET_DEVICE", "TPU", "models[0].target_device"),
        ("FUSEML_PLUGIN_CONFIG", "not json", "models[0].plugin_config"),
        ("FUSEML_MODEL", "ftp://x/y", "models[0].model"),
        ("FUSEML_LOGLEVEL", "LOUD", "models[0].loglevel"),
        ("FUSEML_SHAPE", "(1,x)", "models[0].shape"),
        ("FUSEML_LAYOUT", "XYZ", "models[0].layout"),
        ("FUSEML_MODEL_VERSION_POLICY", '{"newest": {}}', "models[0].model_version_policy"),
        ("FUSEML_ADOPT", "perhaps", "models[0].adopt"),
    ],
)
def test_bad_model_inputs_get_the_core_message_and_the_input_name(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(StepInputError) as caught:
        inputs.validate(read(step_env(**{name: value}), tmp_path))
    text = str(caught.value)
    assert text.startswith("fuseml-serving:models[0].")
    assert message in text
    assert text.endswith(f"(step input: {name})")


def test_missing_model_names_its_input(tmp_path: Path) -> None:
    env = step_env()
    del env["FUSEML_MODEL"]
    with pytest.raises(StepInputError, match=r"models\[0\]\.model .*required.*\(step input: FUSEML_MODEL\)$"):
        inputs.validate(read(env, tmp_path))


def test_s3_model_without_credentials_is_refused(tmp_path: Path) -> None:
    env = step_env()
    del env["AWS_SECRET_ACCESS_KEY"]
    with pytest.raises(StepInputError, match="an s3:// URL only with S3 credentials"):
        inputs.validate(read(env, tmp_path))


def test_without_a_domain_the_installers_gateway_gives_it(tmp_path: Path) -> None:
    env = step_env(FUSEML_ENV_WORKFLOW_NAMESPACE="workloads")
    del env["FUSEML_SERVING_DOMAIN"]
    asked: list[tuple[str, str]] = []

    def discover(namespace: str, name: str, _env: dict[str, str]) -> gateway.Found:
        asked.append((namespace, name))
        return gateway.split_host("*.ovms.34.118.93.249.nip.io", "the Gateway")

    istio = inputs.read(env, tmp_path, discover=discover).raw["istio"]
    assert asked == [("workloads", "ovms-gateway")]
    assert istio == {"gateway": "ovms-gateway", "domain": "34.118.93.249.nip.io", "host_prefix": "ovms"}


def test_a_given_domain_is_not_looked_up(tmp_path: Path) -> None:
    def discover(*_args: object) -> gateway.Found:
        raise AssertionError("looked up")

    assert inputs.read(step_env(), tmp_path, discover=discover).raw["istio"]["domain"]


def test_without_a_domain_or_a_way_to_read_the_gateway_says_what_to_set(tmp_path: Path) -> None:
    env = step_env(KUBECONFIG=str(tmp_path / "missing"))
    del env["FUSEML_SERVING_DOMAIN"]
    with pytest.raises(StepInputError) as raised:
        inputs.validate(read(env, tmp_path))
    assert str(raised.value) == (
        "istio.domain: no FUSEML_SERVING_DOMAIN or ISTIO_DOMAIN given, and no service account or usable "
        f"kubeconfig ({tmp_path / 'missing'}) to read the Gateway with; set FUSEML_SERVING_DOMAIN to the "
        "Istio ingress domain"
    )


@pytest.mark.parametrize("host", ["ovms.example.com", "*.nip", ""])
def test_a_gateway_host_without_a_wildcard_prefix_is_refused(host: str) -> None:
    with pytest.raises(StepInputError, match=r"has no host like \*\.<prefix>\.<domain>"):
        gateway.split_host(host, "Gateway ns/ovms-gateway")


def test_bad_namespace_names_the_workflow_namespace(tmp_path: Path) -> None:
    with pytest.raises(
        StepInputError, match=r"namespace: got 'Bad_NS'.*\(step input: FUSEML_ENV_WORKFLOW_NAMESPACE\)"
    ):
        inputs.validate(read(step_env(FUSEML_ENV_WORKFLOW_NAMESPACE="Bad_NS"), tmp_path))


def test_env_for_key() -> None:
    assert inputs.env_for_key("models[0].resources.requests.cpu") == "FUSEML_RESOURCES"
    assert inputs.env_for_key("fuseml.url") == "FUSEML_SERVER_URL"
    assert inputs.env_for_key("models") is None
    assert inputs.env_for_key("cluster.mode") is None


def test_a_limit_below_the_request_names_the_step_input_the_user_set(tmp_path: Path) -> None:
    env = step_env(FUSEML_RESOURCES='{"requests": {"cpu": 2}}', FUSEML_RESOURCES_LIMITS='{"cpu": 1}')
    with pytest.raises(StepInputError) as raised:
        inputs.validate(read(env, tmp_path))
    message = str(raised.value)
    assert message.startswith("fuseml-serving:models[0].resources_limits.cpu")
    assert message.endswith("allowed: at least the request (2) (step input: FUSEML_RESOURCES_LIMITS)")


def test_every_bad_input_is_named_with_its_step_input_at_once(tmp_path: Path) -> None:
    env = step_env(FUSEML_NIREQ="four", FUSEML_REPLICAS="0", FUSEML_ENV_WORKFLOW_NAMESPACE="Bad_NS")
    with pytest.raises(StepInputError) as raised:
        inputs.validate(read(env, tmp_path))
    lines = str(raised.value).splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("(step input: FUSEML_ENV_WORKFLOW_NAMESPACE)")
    assert lines[1].endswith("(step input: FUSEML_NIREQ)") and lines[2].endswith(
        "(step input: FUSEML_REPLICAS)"
    )


def test_a_failed_domain_lookup_is_reported_with_the_other_mistakes(tmp_path: Path) -> None:
    env = step_env(KUBECONFIG=str(tmp_path / "missing"), FUSEML_NIREQ="four")
    del env["FUSEML_SERVING_DOMAIN"]
    with pytest.raises(StepInputError) as raised:
        inputs.validate(read(env, tmp_path))
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("istio.domain: no FUSEML_SERVING_DOMAIN or ISTIO_DOMAIN given")
    assert lines[1].endswith("(step input: FUSEML_NIREQ)")


# --- the step as FuseML's kserve and seldon predictor steps ---------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"FUSEML_PREDICTOR": "sklearn", "FUSEML_BACKEND": "kserve"}, {"format": "sklearn"}),
        ({"FUSEML_PREDICTOR": "TensorFlow", "FUSEML_BACKEND": "seldon"}, {"format": "tensorflow"}),
        ({"FUSEML_PREDICTOR": "triton", "FUSEML_BACKEND": "kserve"}, {"runtime": "kserve-tritonserver"}),
        ({"FUSEML_PREDICTOR": "triton", "FUSEML_BACKEND": "seldon"}, {"runtime": "TRITON_SERVER"}),
        ({"FUSEML_PREDICTOR": "auto", "FUSEML_BACKEND": "kserve"}, {}),
        ({"FUSEML_PREDICTOR": "sklearn", "FUSEML_FORMAT": "sklearn"}, {"format": "sklearn"}),
    ],
)
def test_the_predictor_input_of_fusemls_kserve_and_seldon_steps(
    tmp_path: Path, extra: dict[str, str], expected: dict[str, str]
) -> None:
    (entry,) = read(step_env(**extra), tmp_path).raw["models"]
    assert {k: entry[k] for k in ("format", "runtime") if k in entry} == expected


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"FUSEML_PREDICTOR": "triton"},
            "FUSEML_PREDICTOR: got 'triton'; allowed: with FUSEML_BACKEND kserve or seldon (got nothing): "
            "Triton runs under one of those",
        ),
        (
            {"FUSEML_PREDICTOR": "sklearn", "FUSEML_FORMAT": "xgboost"},
            "FUSEML_PREDICTOR: got 'sklearn'; allowed: a predictor that agrees with FUSEML_FORMAT (xgboost), "
            "or only one of the two",
        ),
        (
            {"FUSEML_PREDICTOR": "triton", "FUSEML_BACKEND": "kserve", "FUSEML_RUNTIME": "kserve-mlserver"},
            "FUSEML_PREDICTOR: got 'triton'; allowed: a predictor that agrees with FUSEML_RUNTIME "
            "(kserve-mlserver), or only one of the two",
        ),
        (
            {"FUSEML_PREDICTOR": "pytorch"},
            "FUSEML_PREDICTOR: got 'pytorch'; allowed: auto, tensorflow, sklearn or triton (FuseML's kserve "
            "and seldon predictor steps' values)",
        ),
    ],
)
def test_a_predictor_word_the_steps_never_had_is_refused(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(StepInputError) as caught:
        read(step_env(**extra), tmp_path)
    assert str(caught.value) == message


def test_the_multi_backend_example_runs_each_predictor_step_on_its_backend(tmp_path: Path) -> None:
    """examples/mlflow-multi-pulumi.yaml: the same image as the OVMS, KServe and Seldon predictor."""
    import yaml

    from components.backends import registry
    from components.planning import plans

    workflow = yaml.safe_load(
        (Path(__file__).parents[1] / "examples" / "mlflow-multi-pulumi.yaml").read_text()
    )
    steps = [s for s in workflow["steps"] if s["name"].endswith("-predictor")]
    found = {}
    for step in steps:
        env = step_env()
        for item in step["inputs"]:
            assert item["name"] in {"app_name", "predictor", *inputs.MODEL_KEYS}, item["name"]
            if item["name"] == "model":
                continue  # the trainer's or the converter's output: step_env's model URL stands for it
            # A workflow input: its default, or what a model of the tutorial (Keras) asks for.
            value = str(item["value"])
            env[f"FUSEML_{item['name'].upper()}"] = (
                "tensorflow" if "{{" in value and item["name"] == "predictor" else value
            )
        cfg = inputs.validate(read(env, tmp_path))
        (model,) = cfg.models
        plan = plans(cfg, registry(), lambda url: ("keras", "test"))[model.app_name]
        found[model.app_name] = (plan.backend, plan.runtime)
    assert found == {
        "cifar10-ovms": ("ovms", "ovms"),
        "cifar10-kserve": ("kserve", "kserve-tensorflow-serving"),
        "cifar10-seldon": ("seldon", "TENSORFLOW_SERVER"),
    }
