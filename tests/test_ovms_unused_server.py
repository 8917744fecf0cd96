"""A `servers` entry no model uses is not deployed: every run says so, naming the entry."""

from __future__ import annotations

from components.program import prepare


def stack(*models: dict, servers: list[dict]) -> dict:
    return {
        "istio": {"domain": "d.io"},
        "fuseml": {"register": False},
        "models": list(models),
        "servers": servers,
    }


def no_store(url: str) -> tuple[str, str]:
    raise AssertionError("the store is not read for models on OVMS")


def test_an_unused_server_is_named_in_a_warning_and_a_used_one_is_not() -> None:
    model = {"app_name": "resnet", "model": "gs://b/resnet", "server": "vision", "nireq": 2}
    servers = [{"name": "vision"}, {"name": "spare"}]
    ready = prepare(stack(model, servers=servers), project="p", stack="s", detect=no_store)
    unused = [line for line in ready.warnings if "servers[" in line]
    assert unused == ["fuseml-serving: servers[1] (spare) is not deployed: no model sets server: spare"]


def test_no_servers_no_warning() -> None:
    model = {"app_name": "resnet", "model": "gs://b/resnet", "nireq": 2}
    ready = prepare(stack(model, servers=[]), project="p", stack="s", detect=no_store)
    assert not [line for line in ready.warnings if "servers[" in line]
