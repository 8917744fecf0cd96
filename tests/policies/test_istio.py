"""Istio routing rules (policies/rules/istio.py): VirtualService hosts unique, in the domain, routed."""

from __future__ import annotations

from policies import rules
from tests.policies.builders import (
    model_server,
    policy_resource,
    resource_urn,
    run_stack,
    serving_stack,
    virtual_service,
)


# ---------------------------------------------------------------------------------------------------------
# virtualservice-hosts-unique.
# ---------------------------------------------------------------------------------------------------------
def test_unique_virtualservice_hosts() -> None:
    assert run_stack("virtualservice-hosts-unique", serving_stack("mnist", "iris")) == []
    clash = [
        *serving_stack("mnist"),
        policy_resource(
            rules.VIRTUAL_SERVICE, "vs-copy", virtual_service("iris", host="MNIST.serving.example.com")
        ),
    ]
    found = run_stack("virtualservice-hosts-unique", clash)
    assert len(found) == 2 and all("'mnist.serving.example.com'" in message for _, message in found)


# ---------------------------------------------------------------------------------------------------------
# virtualservice-hosts-in-domain and virtualservice-routes-to-server.
# ---------------------------------------------------------------------------------------------------------
def test_hosts_in_gateway_domain_pass() -> None:
    assert run_stack("virtualservice-hosts-in-domain", serving_stack("mnist")) == []
    assert (
        run_stack("virtualservice-hosts-in-domain", serving_stack("mnist"), config={"domain": "example.com"})
        == []
    )


def test_host_outside_gateway_hosts_flagged() -> None:
    stack = [
        *serving_stack(),
        policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="mnist.evil.org")),
    ]
    found = run_stack("virtualservice-hosts-in-domain", stack)
    assert (
        len(found) == 1 and "'mnist.evil.org' matches none of the hosts *.serving.example.com" in found[0][1]
    )


def test_host_outside_configured_domain_flagged() -> None:
    stack = [policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="mnist.serving.other.com"))]
    found = run_stack("virtualservice-hosts-in-domain", stack, config={"domain": "example.com"})
    assert len(found) == 1 and "not under the configured domain 'example.com'" in found[0][1]
    assert found[0][0] == resource_urn(rules.VIRTUAL_SERVICE, "vs")


def test_host_rules_without_known_domain() -> None:
    """Neither a domain nor a managed Gateway: only concrete fully-qualified hosts pass."""
    external = "fuseml-system/shared-gateway"
    ok = [policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(gateway=external))]
    assert run_stack("virtualservice-hosts-in-domain", ok) == []
    short = [policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="mnist", gateway=external))]
    assert "not a fully-qualified DNS name" in run_stack("virtualservice-hosts-in-domain", short)[0][1]
    wild = [
        policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="*.example.com", gateway=external))
    ]
    assert "wildcard host" in run_stack("virtualservice-hosts-in-domain", wild)[0][1]


def test_routes_to_existing_server_pass() -> None:
    assert run_stack("virtualservice-routes-to-server", serving_stack("mnist")) == []
    fqdn = [
        *serving_stack(),
        policy_resource(rules.MODEL_SERVER, "ms", model_server("mnist")),
        policy_resource(
            rules.VIRTUAL_SERVICE, "vs", virtual_service(dest="ovms-mnist.fuseml-workloads.svc.cluster.local")
        ),
    ]
    assert run_stack("virtualservice-routes-to-server", fqdn) == []


def test_route_to_missing_server_or_wrong_port_flagged() -> None:
    stack = [
        policy_resource(rules.MODEL_SERVER, "ms", model_server("mnist")),
        policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(dest="ovms-mnsit")),
    ]
    found = run_stack("virtualservice-routes-to-server", stack)
    assert len(found) == 1 and "'ovms-mnsit', which is no ModelServer" in found[0][1]
    assert "known servers: ovms-mnist.fuseml-workloads" in found[0][1]
    wrong_ns = [
        stack[0],
        policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(dest="ovms-mnist.other.svc")),
    ]
    assert len(run_stack("virtualservice-routes-to-server", wrong_ns)) == 1
    wrong_port = [stack[0], policy_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(port=9000.0))]
    found = run_stack("virtualservice-routes-to-server", wrong_port)
    assert len(found) == 1 and "port 9000" in found[0][1] and "8080, 8081" in found[0][1]
