"""Tests of fuseml.provider: each provider method against a real local FuseML stand-in, and Pulumi mocks."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from typing import Any

import dill
import pulumi
import pulumi.dynamic
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from components.readiness.provider import ModelNotReady
from fuseml import provider as provider_module
from fuseml.client import FuseMLOwnershipError, FuseMLUnavailable
from fuseml.provider import (
    Application,
    ApplicationProvider,
    owner_marker,
    split_marker,
    with_marker,
)
from tests.fuseml_server import FakeFuseML, running_server

TOKEN = "tok-PROVIDER-SECRET-91b2"
OWNER = "fuseml-serving/dev"
WORKFLOW = "mlflow-ovms-e2e"
RESOURCES = [{"name": "mnist", "kind": "ModelServer"}, {"name": "mnist", "kind": "VirtualService"}]


@pytest.fixture
def server() -> Iterator[FakeFuseML]:
    with running_server() as srv:
        yield srv


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Set a distinctive token and record retry sleeps instead of waiting."""
    monkeypatch.setenv("FUSEML_TOKEN", TOKEN)
    monkeypatch.delenv("FUSEML_TOKEN_FILE", raising=False)
    sleeps: list[float] = []
    monkeypatch.setattr(provider_module, "_sleep_between_retries", sleeps.append)
    return sleeps


def inputs(server: FakeFuseML, **overrides: Any) -> dict[str, Any]:
    """Checked inputs as the engine passes them (with a __provider blob and floats for numbers)."""
    props = {
        "__provider": "serialized-provider",
        "server_url": server.url,
        "name": "mnist-ovms",
        "type": "predictor",
        "description": "MNIST on OVMS",
        "url": "http://mnist.fuseml.example/v1/models/mnist:predict",
        "workflow": WORKFLOW,
        "owner": OWNER,
        "k8s_namespace": "fuseml-workloads",
        "k8s_resources": [dict(r) for r in RESOURCES],
        "adopt": False,
        "timeout_s": 10.0,
    }
    props.update(overrides)
    return props


def foreign_record(
    name: str = "mnist-ovms", *, workflow: str = "other-flow", marker: str | None = "team-b/prod"
):
    """A record registered by someone else (another workflow / stack, or no marker at all)."""
    description = with_marker("theirs", marker) if marker else "theirs"
    return {
        "name": name,
        "type": "predictor",
        "description": description,
        "url": "http://theirs.example/predict",
        "workflow": workflow,
        "k8s_namespace": "team-b",
        "k8s_resources": [{"name": "theirs", "kind": "Deployment"}],
    }


def create(server: FakeFuseML, **overrides: Any) -> dict[str, Any]:
    """Create through the provider and return its outputs."""
    result = ApplicationProvider().create(inputs(server, **overrides))
    assert result.id == "mnist-ovms"
    return result.outs


# -- marker ---------------------------------------------------------------------------------------


def test_marker_round_trip() -> None:
    assert with_marker("MNIST", OWNER) == "MNIST [managed by fuseml-serving stack fuseml-serving/dev]"
    assert with_marker("", OWNER) == owner_marker(OWNER)
    assert split_marker(with_marker("MNIST", OWNER)) == ("MNIST", OWNER)
    assert split_marker(owner_marker(OWNER)) == ("", OWNER)
    assert split_marker("plain text") == ("plain text", None)
    assert split_marker(None) == ("", None)
    for text in ("two  spaces ", " ", "line\n"):
        assert split_marker(with_marker(text, OWNER)) == (text, OWNER)
    # A marker in the middle of a text is not an ownership claim.
    assert split_marker(f"{owner_marker(OWNER)} and more") == (f"{owner_marker(OWNER)} and more", None)


# -- check ----------------------------------------------------------------------------------------


def test_check_accepts_valid_inputs_and_fills_defaults(server: FakeFuseML) -> None:
    news = inputs(server)
    for key in ("type", "description", "k8s_resources", "adopt", "timeout_s"):
        del news[key]
    result = ApplicationProvider().check({}, news)
    assert result.failures == []
    assert result.inputs["type"] == "predictor"
    assert result.inputs["description"] == ""
    assert result.inputs["k8s_resources"] == []
    assert result.inputs["adopt"] is False
    assert result.inputs["timeout_s"] == 10 and isinstance(result.inputs["timeout_s"], int)
    assert server.requests == []  # check never talks to FuseML


def test_check_normalises_integral_floats(server: FakeFuseML) -> None:
    result = ApplicationProvider().check({}, inputs(server, timeout_s=30.0))
    assert result.inputs["timeout_s"] == 30 and isinstance(result.inputs["timeout_s"], int)
    assert ApplicationProvider().check({}, inputs(server, timeout_s=2.5)).inputs["timeout_s"] == 2.5


@pytest.mark.parametrize(
    ("overrides", "prop", "reason"),
    [
        ({"name": "MNIST_ovms"}, "name", "not a DNS-1123 label"),
        ({"name": "a" * 64}, "name", "longer than 63"),
        ({"name": "-mnist"}, "name", "not a DNS-1123 label"),
        ({"url": "ftp://mnist.example/predict"}, "url", "http:// or https://"),
        ({"url": "mnist.example/predict"}, "url", "http:// or https://"),
        ({"server_url": "grpc://fuseml:80"}, "server_url", "http:// or https://"),
        ({"server_url": "http://admin:pw@fuseml.example"}, "server_url", "must not contain credentials"),
        ({"server_url": None}, "server_url", "is required"),
        ({"workflow": ""}, "workflow", "non-empty string"),
        ({"owner": "team b]"}, "owner", "managing stack"),
        ({"k8s_namespace": "Fuseml"}, "k8s_namespace", "DNS-1123"),
        ({"k8s_resources": [{"name": "x"}]}, "k8s_resources", "non-empty string 'kind'"),
        (
            {"k8s_resources": [{"name": "x", "kind": "Pod", "ns": "y"}]},
            "k8s_resources",
            "only 'name' and 'kind'",
        ),
        ({"timeout_s": 0}, "timeout_s", "positive number"),
        ({"timeout_s": -1.5}, "timeout_s", "positive number"),
        ({"timeout_s": True}, "timeout_s", "positive number"),
        ({"adopt": "yes"}, "adopt", "true or false"),
        ({"description": "x " + owner_marker("a/b")}, "description", "owner marker"),
        ({"token": "oops"}, "token", "unknown property"),
    ],
)
def test_check_rejects_invalid_inputs(server: FakeFuseML, overrides: dict, prop: str, reason: str) -> None:
    failures = ApplicationProvider().check({}, inputs(server, **overrides)).failures
    assert [(f.property, reason in f.reason) for f in failures] == [(prop, True)]


def test_a_grpc_only_model_is_listed_at_its_grpc_endpoint_but_fuseml_is_reached_over_http(
    server: FakeFuseML,
) -> None:
    grpc = "grpc://modelmesh-serving.fuseml-workloads:8033?mm-vmodel-id=mnist"
    assert ApplicationProvider().check({}, inputs(server, url=grpc)).failures == []


def test_check_skips_unknown_values_during_preview(server: FakeFuseML) -> None:
    news = inputs(server, url=rpc.UNKNOWN, k8s_resources=[{"name": rpc.UNKNOWN, "kind": "ModelServer"}])
    assert ApplicationProvider().check({}, news).failures == []


# -- create ---------------------------------------------------------------------------------------


def test_create_registers_with_workflow_and_owner_marker(server: FakeFuseML) -> None:
    outs = create(server)
    assert server.calls() == [("GET", "/applications/mnist-ovms"), ("POST", "/applications")]
    stored = server.store["mnist-ovms"]
    assert stored["workflow"] == WORKFLOW
    assert stored["description"] == "MNIST on OVMS [managed by fuseml-serving stack fuseml-serving/dev]"
    assert stored["k8s_resources"] == RESOURCES
    assert server.requests[1].headers["Authorization"] == f"Bearer {TOKEN}"
    expected = {k: v for k, v in inputs(server).items() if k != "__provider"}
    assert outs == {**expected, "timeout_s": 10}


def test_create_replaces_a_record_we_already_own(server: FakeFuseML) -> None:
    create(server)
    outs = create(server, url="http://new.example/predict")
    assert outs["url"] == server.store["mnist-ovms"]["url"] == "http://new.example/predict"
    assert server.writes() == [("POST", "/applications")] * 2


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (foreign_record(), ["workflow 'other-flow'", "stack 'team-b/prod'"]),
        (
            foreign_record(workflow=WORKFLOW, marker="team-b/prod"),
            [f"workflow '{WORKFLOW}'", "stack 'team-b/prod'"],
        ),
        (foreign_record(workflow="other-flow", marker=OWNER), ["workflow 'other-flow'", f"stack '{OWNER}'"]),
        (foreign_record(workflow=WORKFLOW, marker=None), [f"workflow '{WORKFLOW}'", "no owner marker"]),
    ],
)
def test_create_refuses_record_owned_by_someone_else(
    server: FakeFuseML, caplog, record: dict, expected: list[str]
) -> None:
    server.seed(record)
    with caplog.at_level(logging.DEBUG), pytest.raises(FuseMLOwnershipError) as info:
        create(server)
    message = str(info.value)
    for text in expected:
        assert text in message
    assert "adopt: true" in message and "mnist-ovms" in message
    assert server.writes() == []
    assert server.store["mnist-ovms"] == record
    assert TOKEN not in message and TOKEN not in caplog.text


def test_create_with_adopt_takes_over(server: FakeFuseML) -> None:
    server.seed(foreign_record())
    outs = create(server, adopt=True)
    assert server.calls() == [("POST", "/applications")]
    assert server.store["mnist-ovms"]["workflow"] == WORKFLOW
    assert split_marker(server.store["mnist-ovms"]["description"])[1] == OWNER
    assert outs["owner"] == OWNER and outs["adopt"] is True


def test_create_fails_cleanly_when_fuseml_is_down(server: FakeFuseML, env: list[float], caplog) -> None:
    server.inject(503, times=None, body=f"bad gateway, got token={TOKEN}")
    with caplog.at_level(logging.DEBUG), pytest.raises(FuseMLUnavailable) as info:
        create(server)
    assert server.calls() == [("GET", "/applications/mnist-ovms")] * 5
    assert env == [0.5, 1.0, 2.0, 4.0]
    assert info.value.status == 503
    assert TOKEN not in str(info.value) and TOKEN not in caplog.text


def test_create_honours_timeout_input(server: FakeFuseML) -> None:
    server.inject(delay_s=1.0, times=None)
    with pytest.raises(FuseMLUnavailable, match="ReadTimeout"):
        ApplicationProvider().create(inputs(server, timeout_s=0.2))
    assert len(server.requests) == 5


# -- read -----------------------------------------------------------------------------------------


def test_read_returns_current_server_values(server: FakeFuseML) -> None:
    outs = create(server)
    server.store["mnist-ovms"]["url"] = "http://changed.example/predict"
    server.store["mnist-ovms"]["description"] = with_marker("edited", OWNER)
    result = ApplicationProvider().read("mnist-ovms", {**outs, "__provider": "x"})
    assert result.id == "mnist-ovms"
    assert result.outs == {**outs, "url": "http://changed.example/predict", "description": "edited"}
    assert server.calls()[-1] == ("GET", "/applications/mnist-ovms")
    # The drift shows up as an in-place update on the next diff.
    diff = ApplicationProvider().diff("mnist-ovms", result.outs, inputs(server))
    assert (diff.changes, diff.replaces) == (True, [])


def test_read_of_vanished_record_drops_it(server: FakeFuseML) -> None:
    outs = create(server)
    del server.store["mnist-ovms"]
    result = ApplicationProvider().read("mnist-ovms", outs)
    assert (result.id, result.outs) == (None, {})


def test_read_of_taken_over_record_drops_it(server: FakeFuseML) -> None:
    outs = create(server)
    server.seed(foreign_record())
    result = ApplicationProvider().read("mnist-ovms", outs)
    assert (result.id, result.outs) == (None, {})
    assert server.writes() == [("POST", "/applications")]


# -- diff -----------------------------------------------------------------------------------------


def test_unchanged_resource_has_no_changes_and_no_writes(server: FakeFuseML) -> None:
    outs = create(server)
    before = len(server.requests)
    news = inputs(server, k8s_resources=list(reversed(RESOURCES)))  # order alone is no change
    result = ApplicationProvider().diff("mnist-ovms", {**outs, "timeout_s": 10, "__provider": "x"}, news)
    assert result.changes is False
    assert not result.replaces
    assert len(server.requests) == before  # diff itself never calls FuseML
    assert server.writes() == [("POST", "/applications")]


@pytest.mark.parametrize(
    ("overrides", "replaces"),
    [
        ({"name": "mnist-two"}, ["name"]),
        ({"server_url": "http://other-fuseml.example"}, ["server_url"]),
        ({"url": "http://new.example/predict"}, []),
        ({"description": "new text"}, []),
        ({"k8s_resources": RESOURCES[:1]}, []),
        ({"k8s_namespace": "other-ns"}, []),
        ({"workflow": "other-flow"}, []),
        ({"type": "server"}, []),
        ({"owner": "fuseml-serving/prod"}, []),
        ({"adopt": True}, []),
        ({"timeout_s": 20.0}, []),
        ({"url": rpc.UNKNOWN}, []),
    ],
)
def test_diff_classifies_changes(server: FakeFuseML, overrides: dict, replaces: list[str]) -> None:
    outs = create(server)
    result = ApplicationProvider().diff("mnist-ovms", outs, inputs(server, **overrides))
    assert result.changes is True
    assert result.replaces == replaces
    assert result.delete_before_replace is False


# -- update ---------------------------------------------------------------------------------------


def test_update_rewrites_record_and_returns_all_outputs(server: FakeFuseML) -> None:
    outs = create(server)
    news = inputs(server, url="http://new.example/predict", description="v2")
    result = ApplicationProvider().update("mnist-ovms", outs, news)
    assert server.calls()[2:] == [("GET", "/applications/mnist-ovms"), ("POST", "/applications")]
    expected = {k: v for k, v in news.items() if k != "__provider"}
    assert result.outs == {**expected, "timeout_s": 10}
    assert server.store["mnist-ovms"]["description"] == with_marker("v2", OWNER)


def test_update_of_local_settings_makes_no_call(server: FakeFuseML) -> None:
    outs = create(server)
    before = len(server.requests)
    result = ApplicationProvider().update("mnist-ovms", outs, inputs(server, adopt=True, timeout_s=30.0))
    assert len(server.requests) == before
    assert result.outs == {**outs, "adopt": True, "timeout_s": 30}


def test_update_may_change_our_own_workflow(server: FakeFuseML) -> None:
    outs = create(server)
    ApplicationProvider().update("mnist-ovms", outs, inputs(server, workflow="new-flow"))
    assert server.store["mnist-ovms"]["workflow"] == "new-flow"


def test_update_refuses_record_taken_over(server: FakeFuseML) -> None:
    outs = create(server)
    server.seed(foreign_record())
    with pytest.raises(FuseMLOwnershipError, match="stack 'team-b/prod'"):
        ApplicationProvider().update("mnist-ovms", outs, inputs(server, url="http://new.example/predict"))
    assert server.store["mnist-ovms"] == foreign_record()
    result = ApplicationProvider().update("mnist-ovms", outs, inputs(server, adopt=True, description="x"))
    assert result.outs["owner"] == OWNER
    assert server.store["mnist-ovms"]["workflow"] == WORKFLOW


def test_update_recreates_a_vanished_record(server: FakeFuseML) -> None:
    outs = create(server)
    del server.store["mnist-ovms"]
    ApplicationProvider().update("mnist-ovms", outs, inputs(server, description="back"))
    assert server.store["mnist-ovms"]["description"] == with_marker("back", OWNER)


# -- delete ---------------------------------------------------------------------------------------


def test_delete_detaches_k8s_objects_then_deletes(server: FakeFuseML) -> None:
    outs = create(server)
    ApplicationProvider().delete("mnist-ovms", outs)
    assert server.calls()[2:] == [
        ("GET", "/applications/mnist-ovms"),
        ("POST", "/applications"),
        ("DELETE", "/applications/mnist-ovms/"),
    ]
    assert server.requests[3].body["k8s_resources"] == []
    assert server.store == {}
    # Pulumi deletes the ModelServer and VirtualService itself: FuseML must not have touched them.
    assert server.deleted_k8s == []


def test_delete_of_missing_record_is_success(server: FakeFuseML) -> None:
    outs = create(server)
    del server.store["mnist-ovms"]
    ApplicationProvider().delete("mnist-ovms", outs)
    assert server.calls()[2:] == [("GET", "/applications/mnist-ovms")]


def test_delete_racing_a_fuseml_side_delete_is_success(server: FakeFuseML) -> None:
    outs = create(server, k8s_resources=[])
    server.inject(404, method="DELETE")
    ApplicationProvider().delete("mnist-ovms", outs)
    assert server.calls()[2:] == [
        ("GET", "/applications/mnist-ovms"),
        ("DELETE", "/applications/mnist-ovms/"),
    ]


def test_delete_leaves_a_taken_over_record_alone(server: FakeFuseML, caplog) -> None:
    outs = create(server)
    server.seed(foreign_record())
    with caplog.at_level(logging.WARNING, logger="fuseml.provider"):
        ApplicationProvider().delete("mnist-ovms", outs)
    assert server.writes() == [("POST", "/applications")]
    assert server.store["mnist-ovms"] == foreign_record()
    assert "Not deleting FuseML application mnist-ovms" in caplog.text
    assert "team-b/prod" in caplog.text


def test_fuseml_side_delete_then_refresh_then_up_recreates(server: FakeFuseML) -> None:
    outs = create(server)
    # `fuseml application delete`: FuseML removes the record and the listed Kubernetes objects.
    assert server.route("DELETE", "/applications/mnist-ovms/", {}, None)[0] == 204
    assert len(server.deleted_k8s) == 2
    assert ApplicationProvider().read("mnist-ovms", outs).id is None  # refresh drops it
    create(server)  # the next `pulumi up` creates it again
    assert "mnist-ovms" in server.store


# -- pickling and Pulumi mocks --------------------------------------------------------------------


def test_provider_has_no_state_and_pickles_small() -> None:
    provider = ApplicationProvider()
    assert vars(provider) == {}
    blob = serialize_provider(provider)
    assert len(blob) < 2000  # pickled by reference to the importable class, not by value
    restored = dill.loads(base64.b64decode(blob))
    assert type(restored) is ApplicationProvider
    assert vars(restored) == {}


class RecordingMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that echo inputs as outputs and record every registration."""

    def __init__(self) -> None:
        self.created: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.created.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def test_thousand_applications_under_mocks() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        apps = [
            Application(
                f"app-{i}",
                {
                    "server_url": "http://fuseml.example",
                    "name": f"model-{i}",
                    "url": f"http://model-{i}.example/predict",
                    "workflow": WORKFLOW,
                    "owner": OWNER,
                    "k8s_namespace": "fuseml-workloads",
                    "k8s_resources": RESOURCES,
                    "timeout_s": 10.0,
                },
            )
            for i in range(1000)
        ]

        def verify(values: list) -> None:
            assert values[0] == "model-0" and values[1] == "model-999"
            assert values[2] == "predictor" and values[3] == 10
            assert values[4] == RESOURCES and values[5] is False
            assert len(mocks.created) == 1000
            assert {a.typ for a in mocks.created} == {"pulumi-python:dynamic/fuseml:Application"}

        first, last = apps[0], apps[-1]
        return pulumi.Output.all(
            first.name, last.name, first.type, first.timeout_s, first.k8s_resources, first.adopt
        ).apply(verify)

    program()
    assert len(mocks.created) == 1000


#: The signature Pulumi marks a secret value with on the wire (sdk/python/lib/pulumi/runtime/rpc.py,
#: _special_secret_sig).
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def test_each_application_carries_the_providers_own_serialization_as_a_secret() -> None:
    """Application serializes its provider once per process; what it hands the engine must still be what
    pulumi.dynamic.Resource would (the dynamic-provider host unpickles it), and a secret."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    expected = serialize_provider(ApplicationProvider())

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        apps = [
            Application(f"app-{i}", {"server_url": "http://fuseml.example", "name": f"m-{i}", "url": "u"})
            for i in range(2)
        ]
        return pulumi.Output.all(*(app.urn for app in apps))

    program()
    # The engine's form of a secret: Pulumi's signature key, the secret signature, beside the value.
    blobs = [args.inputs["__provider"] for args in mocks.created]
    assert all(isinstance(blob, dict) and SECRET_SIG in blob.values() for blob in blobs), blobs
    assert [blob["value"] for blob in blobs] == [expected, expected]
    assert type(dill.loads(base64.b64decode(blobs[0]["value"]))) is ApplicationProvider


# -- readiness: FuseML registers only what serves ---------------------------------------------------------

SPEC = {
    "backend": "ovms",
    "namespace": "fuseml-workloads",
    "name": "ovms-mnist",
    "revision": "u/1",
    "timeout_s": 9.0,
}


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch, server: FakeFuseML) -> list[dict[str, Any]]:
    """Record each readiness wait (with the FuseML writes made before it); fail it when its spec says so."""
    seen: list[dict[str, Any]] = []

    def fake_wait(props: dict[str, Any], *, updating: bool = False, **kw: Any) -> Any:
        seen.append({**props, "updating": updating, "seen": kw.get("seen"), "writes": list(server.writes())})
        if props["name"] == "broken":
            raise ModelNotReady(
                f"app {props['app']} (backend ovms) is not ready after 9 s (ready_timeout_s): x"
            )
        return {**props, "ready_at": "2026-12-07T06:00:00Z", "ready_after_s": 2.0, "seen": {"uid": "d"}}

    monkeypatch.setattr(provider_module, "wait", fake_wait)
    return seen


def test_create_with_readiness_registers_only_after_the_model_serves(server: FakeFuseML, waits: list) -> None:
    outs = create(server, readiness=SPEC, kubeconfig="apiVersion: v1 # secret", status_urn="urn:x")
    (waited,) = waits
    assert waited["writes"] == []  # nothing registered before the wait passed
    said = tuple(waited[k] for k in ("app", "name", "timeout_s", "kubeconfig", "status_urn"))
    assert said == ("mnist-ovms", "ovms-mnist", 9, "apiVersion: v1 # secret", "urn:x")
    assert server.writes() == [("POST", "/applications")]
    assert (outs["ready_at"], outs["ready_after_s"], outs["seen"]) == (
        "2026-12-07T06:00:00Z",
        2.0,
        {"uid": "d"},
    )
    assert "kubeconfig" not in outs and outs["readiness"]["timeout_s"] == 9


def test_a_model_that_does_not_serve_is_never_registered(server: FakeFuseML, waits: list) -> None:
    with pytest.raises(ModelNotReady, match="app mnist-ovms"):
        create(server, readiness={**SPEC, "name": "broken"})
    assert server.writes() == []


def test_a_record_owned_by_another_stack_fails_before_the_wait(server: FakeFuseML, waits: list) -> None:
    server.seed(foreign_record())
    with pytest.raises(FuseMLOwnershipError):
        create(server, readiness=SPEC)
    assert waits == [] and server.writes() == []


def test_a_new_spec_waits_again_and_a_failed_wait_keeps_the_old_record(
    server: FakeFuseML, waits: list
) -> None:
    gate = ApplicationProvider()
    olds = create(server, readiness=SPEC)
    assert len(server.writes()) == 1
    # The bound, the kubeconfig and the URN steer only: no update.
    steering = inputs(server, readiness={**SPEC, "timeout_s": 99.0}, kubeconfig="k", status_urn="u")
    assert not gate.diff("mnist-ovms", olds, steering).changes
    moved = inputs(server, readiness={**SPEC, "revision": "u/2"})
    assert gate.diff("mnist-ovms", olds, moved).changes and not gate.diff("mnist-ovms", olds, moved).replaces
    outs = gate.update("mnist-ovms", olds, moved).outs
    assert (waits[-1]["updating"], waits[-1]["seen"]) == (True, {"uid": "d"})
    assert len(server.writes()) == 1 and outs["readiness"]["revision"] == "u/2"  # record unchanged: no write
    before = server.store["mnist-ovms"]
    broken = inputs(server, readiness={**SPEC, "name": "broken"}, url="http://new.example/predict")
    with pytest.raises(ModelNotReady):
        gate.update("mnist-ovms", outs, broken)
    assert len(server.writes()) == 1 and server.store["mnist-ovms"] == before


def test_readiness_inputs_are_checked_naming_the_key(server: FakeFuseML) -> None:
    bad = inputs(server, readiness={**SPEC, "backend": "triton", "timeout_s": -1, "extra": 1}, kubeconfig=5)
    failures = ApplicationProvider().check({}, bad).failures
    assert sorted(f.property for f in failures) == [
        "kubeconfig", "readiness.backend", "readiness.extra", "readiness.timeout_s",
    ]  # fmt: skip
