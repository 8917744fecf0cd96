"""Istio routing rules: VirtualService hosts unique and inside the gateway domain, routes to a real server.

Why one module: all three are stack rules over VirtualServices and the Gateways and servers they name,
so how a prediction URL reaches its model server is checked in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel

from kernel.names import is_dns_label

from .common import (
    K8S_SERVICE,
    RuleSpec,
    StackResource,
    StackViolations,
    _as_int,
    _duplicates,
    _get,
    _is_istio,
    _is_model_server,
    _items,
    _known,
)


# ---------------------------------------------------------------------------------------------------------
# virtualservice-hosts-unique: each VirtualService host appears once in the stack.
# ---------------------------------------------------------------------------------------------------------
def _vs_hosts(resource: StackResource) -> list[str]:
    return [h for h in _items(_get(resource.props, "spec", "hosts")) if isinstance(h, str)]


def check_unique_hosts(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """Every VirtualService host appears once in the stack.

    Why: Istio merges or picks arbitrarily between VirtualServices claiming one host on a gateway, so a
    duplicate sends one app's predictions to another app's model.
    """
    entries: list[tuple[str, StackResource]] = []
    violations: StackViolations = []
    for resource in resources:
        if not _is_istio(resource.resource_type, "VirtualService"):
            continue
        hosts = [h.lower() for h in _vs_hosts(resource)]
        repeated = sorted({h for h in hosts if hosts.count(h) > 1})
        if repeated:
            violations.append((resource.ref, f"{resource.label} lists host(s) {', '.join(repeated)} more "
                                             f"than once in spec.hosts."))
        entries.extend((h, resource) for h in sorted(set(hosts)))
    return violations + _duplicates(entries, "host")


VIRTUALSERVICE_HOSTS_UNIQUE = RuleSpec(
    "virtualservice-hosts-unique",
    "Mandatory: each VirtualService host appears once in the stack, because Istio picks arbitrarily "
    "between VirtualServices claiming the same host.",
    EnforcementLevel.MANDATORY, check_unique_hosts, stack=True)


# ---------------------------------------------------------------------------------------------------------
# virtualservice-hosts-in-domain: hosts are concrete names under the gateway domain.
# ---------------------------------------------------------------------------------------------------------
def _gateway_host_patterns(gateway: StackResource) -> list[str]:
    """A Gateway's server hosts without their optional "namespace/" prefix."""
    patterns = []
    for server in _items(_get(gateway.props, "spec", "servers")):
        for host in _items(_get(server, "hosts")):
            if isinstance(host, str):
                patterns.append(host.split("/", 1)[-1].lower())
    return patterns


def host_matches(host: str, pattern: str) -> bool:
    """Istio host matching: "*" matches all, "*.suffix" any name under suffix, else exact."""
    host, pattern = host.lower(), pattern.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _is_fqdn(host: str) -> bool:
    labels = host.lower().split(".")
    return len(labels) >= 2 and all(is_dns_label(label) for label in labels)


def _referenced_gateways(vs: StackResource, gateways: Sequence[StackResource]) -> list[StackResource]:
    """Gateways in the stack that a VirtualService's spec.gateways names ("ns/name" or "name")."""
    found = []
    for ref in _items(_get(vs.props, "spec", "gateways")):
        if not isinstance(ref, str) or ref == "mesh":
            continue
        ns, _, gw_name = ref.rpartition("/")
        ns = ns or vs.namespace
        for gateway in gateways:
            same_ns = ns is None or gateway.namespace is None or gateway.namespace == ns
            if _get(gateway.props, "metadata", "name") == gw_name and same_ns:
                found.append(gateway)
    return found


def check_hosts_in_domain(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """VirtualService hosts fall under the gateway domain.

    The domain is the `domain` setting when given; a host must also match the server hosts of any
    Gateway in the stack that the VirtualService references.  When neither is known the rule can only
    demand a concrete fully-qualified, non-wildcard host.  Why: a host outside the gateway's domain is
    silently unreachable, and a wildcard or foreign host hijacks other apps' traffic on a shared gateway.
    """
    domain = VIRTUALSERVICE_HOSTS_IN_DOMAIN.setting(config, "domain")
    domain = str(domain or "").strip().lower().removeprefix("*.").strip(".")
    gateways = [r for r in resources if _is_istio(r.resource_type, "Gateway")]
    violations: StackViolations = []
    if domain:
        for gateway in gateways:
            for pattern in _gateway_host_patterns(gateway):
                if pattern != "*" and not (pattern.endswith("." + domain) or pattern == domain):
                    violations.append((gateway.ref, f"{gateway.label} serves host {pattern!r}, outside the "
                                                    f"configured domain {domain!r}."))
    for vs in resources:
        if not _is_istio(vs.resource_type, "VirtualService"):
            continue
        referenced = _referenced_gateways(vs, gateways)
        patterns = [p for gateway in referenced for p in _gateway_host_patterns(gateway)]
        for host in _vs_hosts(vs):
            if "*" in host:
                violations.append((vs.ref, f"{vs.label} claims wildcard host {host!r}; each app needs its "
                                           f"own concrete host such as <app>.<prefix>.<domain>."))
                continue
            if domain and not host.lower().endswith("." + domain):
                violations.append((vs.ref, f"{vs.label} host {host!r} is not under the configured domain "
                                           f"{domain!r}; use <app>.<prefix>.{domain}."))
            if patterns and not any(host_matches(host, p) for p in patterns):
                names = ", ".join(g.label for g in referenced)
                violations.append((vs.ref, f"{vs.label} host {host!r} matches none of the hosts "
                                           f"{', '.join(patterns)} served by {names}, so it is unreachable."))
            if not domain and not patterns and not _is_fqdn(host):
                violations.append((vs.ref, f"{vs.label} host {host!r} is not a fully-qualified DNS name and "
                                           f"no domain is known (set the policy's domain or manage the "
                                           f"Gateway in this stack)."))
    return violations


VIRTUALSERVICE_HOSTS_IN_DOMAIN = RuleSpec(
    "virtualservice-hosts-in-domain",
    "Mandatory: VirtualService hosts are concrete names under the gateway domain (the domain setting, or "
    "the referenced Gateway's hosts), because other hosts are unreachable or hijack other apps' traffic.",
    EnforcementLevel.MANDATORY, check_hosts_in_domain, stack=True,
    settings={"domain": {"type": "string", "default": "",
                         "description": "Suffix hosts must fall under, e.g. 'serving.example.com'."}})


# ---------------------------------------------------------------------------------------------------------
# virtualservice-routes-to-server: every route targets a server of the stack on one of its ports.
# ---------------------------------------------------------------------------------------------------------
def _server_index(resources: Sequence[StackResource]) -> dict[tuple[str | None, str], tuple[str, set[int]]]:
    """(namespace, service name) -> (label, ports) for ModelServers and Services in the stack."""
    index: dict[tuple[str | None, str], tuple[str, set[int]]] = {}
    for resource in resources:
        name = _get(resource.props, "metadata", "name")
        if not isinstance(name, str):
            continue
        if _is_model_server(resource.resource_type):
            params = _get(resource.props, "spec", "service_parameters")
            ports = {p for key in ("rest_port", "grpc_port") for p in [_as_int(_get(params, key))] if p}
        elif resource.resource_type == K8S_SERVICE:
            ports = {p for port in _items(_get(resource.props, "spec", "ports"))
                     for p in [_as_int(_get(port, "port"))] if p}
        else:
            continue
        index[(resource.namespace, name)] = (resource.label, ports)
    return index


def split_service_host(host: str, default_namespace: str | None) -> tuple[str | None, str]:
    """(namespace, name) of a mesh host: "svc", "svc.ns", "svc.ns.svc[.cluster.local]"."""
    parts = host.lower().split(".")
    if len(parts) == 1:
        return default_namespace, parts[0]
    if len(parts) == 2 or parts[2] == "svc":
        return parts[1], parts[0]
    return "<external>", host.lower()


def check_routes_to_server(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """Every VirtualService route targets a ModelServer (or Service) of this stack on one of its ports.

    Why: a route to a misspelled or absent server answers 503 at the published prediction URL while the
    deployment looks green.
    """
    servers = _server_index(resources)
    violations: StackViolations = []
    for vs in resources:
        if not _is_istio(vs.resource_type, "VirtualService"):
            continue
        spec = _get(vs.props, "spec")
        if not _known(spec):
            continue
        destinations = [_get(route, "destination")
                        for section in ("http", "tls", "tcp") for rule in _items(_get(spec, section))
                        for route in _items(_get(rule, "route"))]
        if not destinations:
            violations.append((vs.ref, f"{vs.label} has no spec.http[].route[].destination; it must route to "
                                       f"the app's ModelServer."))
        for destination in destinations:
            host = _get(destination, "host")
            if not _known(host):
                continue
            if not isinstance(host, str) or not host:
                violations.append((vs.ref, f"{vs.label} has a route without destination.host."))
                continue
            ns, service = split_service_host(host, vs.namespace)
            matches = [(key, value) for key, value in servers.items()
                       if key[1] == service and (ns is None or key[0] is None or key[0] == ns)]
            if not matches:
                known = ", ".join(sorted(f"{svc}.{ns}" if ns else svc for ns, svc in servers)) or "none"
                violations.append((vs.ref, f"{vs.label} routes to {host!r}, which is no ModelServer or "
                                           f"Service in this stack; known servers: {known}."))
                continue
            port = _as_int(_get(destination, "port", "number"))
            label, ports = matches[0][1]
            if port is not None and ports and port not in ports:
                violations.append((vs.ref, f"{vs.label} routes to {host!r} port {port}, but {label} "
                                           f"listens on {', '.join(str(p) for p in sorted(ports))}."))
    return violations


VIRTUALSERVICE_ROUTES_TO_SERVER = RuleSpec(
    "virtualservice-routes-to-server",
    "Mandatory: every VirtualService route targets a ModelServer (or Service) in the stack on one of its "
    "ports, because a dangling route serves 503s at the published prediction URL.",
    EnforcementLevel.MANDATORY, check_routes_to_server, stack=True)


RULES: tuple[RuleSpec, ...] = (
    VIRTUALSERVICE_HOSTS_UNIQUE, VIRTUALSERVICE_HOSTS_IN_DOMAIN, VIRTUALSERVICE_ROUTES_TO_SERVER,
)
