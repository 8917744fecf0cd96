"""bench's parts that run in the main environment: the in-cluster Job and ConfigMap, and the stack reader.

The Job and ConfigMap are validated against the Kubernetes schema (kubernetes-validate, strict); their
clean-up is checked through a kubectl stand-in on PATH that records its calls (the boundary), as the
loopback cluster's pods never run. The stack reader gets the outputs of a `pulumi` stand-in and reads the
shipped Pulumi.local.yaml through the program's parser.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import kubernetes_validate
import pytest

from bench import incluster
from bench.stack import stack_targets

ROOT = Path(__file__).resolve().parents[1]


def test_the_job_and_configmap_are_valid_kubernetes_objects() -> None:
    objects = incluster.manifests(
        "bench-0001", "fuseml-workloads", incluster.Attack(
            "http://ovms-a.fuseml-workloads:8081/v1/models/a:predict",
            [b'{"instances": [[1]]}', b'{"instances": [[2]]}'],
            rate=300, seconds=12, timeout_s=5, parallelism=3,
        ),
    )  # fmt: skip
    for item in objects:
        kubernetes_validate.validate(item, "1.36", strict=True)
    config_map, job = objects
    assert [line for line in config_map["data"]["targets"].splitlines() if line] and len(
        config_map["data"]["targets"].splitlines()
    ) == 2
    spec = job["spec"]
    assert spec["parallelism"] == spec["completions"] == 3 and spec["backoffLimit"] == 0
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == incluster.IMAGE and ":latest" not in container["image"]
    # Each pod at a third of the rate, for the whole run.
    assert "-rate=100/1s" in container["command"][2] and "-duration=12s" in container["command"][2]
    assert spec["template"]["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}


def _fake(folder: Path, name: str, script: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_the_job_and_configmap_are_deleted_when_the_job_does_not_complete(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    kubectl = _fake(
        tmp_path, "kubectl", f'printf "%s\\n" "$*" >> {calls}\ncase "$*" in *"get job"*) printf "/";; esac\n'
    )
    with pytest.raises(incluster.ClusterError, match="not complete after 0s"):
        incluster.run_job(
            incluster.Kubectl(str(kubectl), "ns1"), "ns1",
            incluster.Attack("http://m/v1/models/m:predict", [b"{}"], rate=10, seconds=3, timeout_s=1,
                             parallelism=1),
            wait_s=0, say=lambda line: None,
        )  # fmt: skip
    lines = calls.read_text().splitlines()
    assert lines[0] == "-n ns1 apply -f -"
    run = lines[1].split()[4]
    assert lines[-2].startswith(f"-n ns1 delete job {run} --ignore-not-found")
    assert lines[-1].startswith(f"-n ns1 delete configmap {run} --ignore-not-found")


def test_the_job_and_configmap_are_deleted_on_ctrl_c(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    kubectl = _fake(
        tmp_path, "kubectl", f'printf "%s\\n" "$*" >> {calls}\ncase "$*" in *"get job"*) printf "/";; esac\n'
    )
    said: list[str] = []

    def interrupt(line: str) -> None:
        said.append(line)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        incluster.run_job(
            incluster.Kubectl(str(kubectl), "ns1"), "ns1",
            incluster.Attack("http://m/v1/models/m:predict", [b"{}"], rate=10, seconds=3, timeout_s=1,
                             parallelism=2),
            wait_s=60, say=interrupt,
        )  # fmt: skip
    lines = calls.read_text().splitlines()
    assert said and lines[0] == "-n ns1 apply -f -"
    assert [line.split()[2:4] for line in lines[1:]] == [["delete", "job"], ["delete", "configmap"]]


def test_a_stack_gives_its_models_with_sizes_and_names_what_it_lacks(tmp_path: Path, monkeypatch) -> None:
    outputs = {
        "prediction_urls": {"resnet50-ovms": "http://resnet50-ovms.example/v1/models/resnet50-ovms:predict"},
        "serving": {
            "resnet50-ovms": {"backend": "ovms", "format": "openvino", "runtime": "ovms", "why": "x"}
        },
    }
    _fake(tmp_path, "pulumi", f"cat <<'END'\n{json.dumps(outputs)}\nEND\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    targets, missing = stack_targets("local", ROOT, ["resnet50-ovms", "nope"])
    assert missing == ["--model nope: not in stack local (it has resnet50-ovms)"]
    [target] = targets
    assert target.backend == "ovms" and target.url.endswith(":predict")
    # Pulumi.local.yaml names no resources: the program's default requests, read through its parser.
    assert target.requests == {"cpu": "1", "memory": "1Gi"} and target.replicas == 1
    assert target.machine_type == "n2-standard-4"
    assert any("existing cluster" in note for note in target.notes)
