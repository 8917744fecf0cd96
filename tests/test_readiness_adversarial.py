"""Hostile inputs and sequences against the readiness wait, the stack gate's provider and the step's parse of
failure lines, found by an adversarial pass over commit 0433619 (where each of these tests failed)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc

from components.readiness import provider, verdicts
from components.readiness.provider import ModelNotReady, wait
from step.runner import not_ready
from tests.test_readiness import PROPS, SPEC, Clock, Recorded, isvc, ovms


def test_the_gates_diff_of_an_unknown_models_map_is_a_change() -> None:
    # Hostile input: during preview the whole `models` map is unknown (check accepts it: no failures).
    gate = provider.ReadinessProvider()
    news = {"models": rpc.UNKNOWN}
    assert gate.check({}, news).failures == []
    olds = {"models": {"resnet": {**SPEC, "revision": "u/1"}}, "ready": {"resnet": {}}}
    # It may differ: a change (it was an AttributeError).
    assert gate.diff("models", olds, news).changes


class ResetOnce(Recorded):
    """Ready; the connection resets once, on the second read of the Deployment (the ready look's seen_of)."""

    def __init__(self) -> None:
        super().__init__(ovms(True))
        self.deployment_reads = 0

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        if kind == verdicts.DEPLOYMENTS:
            self.deployment_reads += 1
            if self.deployment_reads == 2:
                raise ConnectionResetError(104, "Connection reset by peer")
        return super().get(kind, name)


def test_a_transport_error_in_the_ready_looks_seen_read_is_retried_within_the_bound() -> None:
    # Hostile input: the API server resets the connection once, right after judging the model ready.
    clock = Clock()
    # Was: ConnectionResetError escaped Watch.look (seen_of is outside its try) and aborts wait_all for
    # every model. Due: retried like any unreachable look within the bound, so the ready model is ready.
    outputs = wait(PROPS, reader=ResetOnce(), clock=clock, sleep=clock.sleep)
    assert outputs["seen"] == {"uid": "dep-uid", "generation": 1}


def test_a_malformed_kubeconfig_is_refused_without_quoting_its_secret_content() -> None:
    # Hostile input: a (secret) kubeconfig with a YAML error on its token line.
    kubeconfig = "apiVersion: v1\nusers:\n- name: u\n  user:\n    token: SEKRET-TOKEN-123: [\n"
    clock = Clock()
    try:
        wait({**PROPS, "kubeconfig": kubeconfig}, clock=clock, sleep=clock.sleep)
    except ModelNotReady as err:
        message = str(err)
    else:  # pragma: no cover - the wait cannot succeed without a cluster
        raise AssertionError("the wait passed")
    # PyYAML's error quotes the offending line: "... line 5, column 28: token: SEKRET-TOKEN-123: [ ^".
    assert "SEKRET-TOKEN-123" not in message


def test_a_multi_line_condition_message_stays_one_failure_line_that_the_step_reads_whole() -> None:
    # Hostile input: KServe's Ready condition quoting a multi-line container message (Knative RevisionFailed).
    objects = isvc(False, {"fail": "CrashLoopBackOff"})
    for condition in objects[0]["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition.update(
                status="False",
                reason="RevisionFailed",
                message="Container failed with: Traceback (most recent call last):\n"
                '  File "/app/server.py", line 3\nModuleNotFoundError: No module named sklearn',
            )
    props = {"app": "iris", "backend": "kserve", "namespace": "serving", "name": "iris", "timeout_s": 10}
    clock = Clock()
    try:
        wait(props, reader=Recorded(objects), clock=clock, sleep=clock.sleep)
    except ModelNotReady as err:
        message = str(err)
    else:  # pragma: no cover
        raise AssertionError("the wait passed")
    # One model, one line (wait_all's contract) (it was four).
    assert len(message.splitlines()) == 1
    # And the step's reason keeps the Pods' words (they were cut at the first newline).
    engine_output = "    error: " + message.replace("\n", "\n    ")
    (reason,) = not_ready(engine_output)
    assert "CrashLoopBackOff" in reason


class SlowUnreachable(Recorded):
    """Every API read waits REQUEST_TIMEOUT_S and then times out (an API server that does not answer)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__([])
        self.clock = clock

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        self.clock.now += provider.REQUEST_TIMEOUT_S
        raise TimeoutError("timed out")


def test_slow_looks_end_the_wait_at_the_bound_plus_the_look_in_flight() -> None:
    # Hostile input: an API server that never answers (each read takes its 10 s timeout), bound 15 s.
    clock = Clock()
    try:
        wait({**PROPS, "timeout_s": 15}, reader=SlowUnreachable(clock), clock=clock, sleep=clock.sleep)
    except ModelNotReady as err:
        message = str(err)
    else:  # pragma: no cover
        raise AssertionError("the wait passed")
    # Due: give up once a look ends past the bound, so at most the bound plus the look in flight (25 s).
    # The deadline was checked against the time before the looks: a sleep and another full look
    # follow, and it gives up at 32 s, saying "could not be reached for the last 32 s of the 15 s wait".
    assert clock.now <= 15 + provider.REQUEST_TIMEOUT_S
    assert "the last 32 s of the 15 s wait" not in message


def test_a_bound_shorter_than_the_settle_time_settles_at_the_bound() -> None:
    # Hostile input: ready_timeout_s 3 (valid: 1..86400) and an update whose Deployment is unchanged.
    clock = Clock()
    seen = {"uid": "dep-uid", "generation": 1}
    # Was: "app resnet (backend ovms) is not ready after 3 s (ready_timeout_s): Deployment ovms-resnet:
    # 1/1 replicas ready": SETTLE_S (5 s) can never pass within a 3 s bound. Due: the settle time is
    # capped by the bound (or a rolled-out model counts as ready at its bound).
    outputs = wait(
        {**PROPS, "timeout_s": 3},
        updating=True,
        seen=seen,
        reader=Recorded(ovms(True)),
        clock=clock,
        sleep=clock.sleep,
    )
    assert outputs["ready_after_s"] <= 3


def test_the_gates_check_refuses_an_app_name_that_is_not_a_dns_label() -> None:
    # Hostile input: a gate model keyed by an app name with a space (not a DNS label).
    gate = provider.ReadinessProvider()
    spec = {**SPEC, "revision": "u/1"}
    failures = gate.check({}, {"models": {"my model": spec}}).failures
    line = "app my model (backend ovms) is not ready after 10 s (ready_timeout_s): x"
    # Due: either check refuses the name, or the step finds the model's failure line; it was neither.
    assert failures or not_ready(f"    error: {line}") == [line]
