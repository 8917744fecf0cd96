"""The public prediction route of one model server: an Istio VirtualService through the gateway."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s

API_VERSION = "networking.istio.io/v1beta1"


class RouteArgs(TypedDict):
    """Inputs of a prediction route."""

    name: pulumi.Input[str]
    """Name of the VirtualService (the same as the server's)."""
    namespace: pulumi.Input[str]
    """Namespace of the VirtualService and the server."""
    host: pulumi.Input[str]
    """Public host, `<app_name>.<host_prefix>.<domain>`."""
    gateway: pulumi.Input[str]
    """The Istio Gateway, as `<namespace>/<name>`."""
    destination: pulumi.Input[str]
    """The server's Service host."""
    port: pulumi.Input[int]
    """The server's REST port."""
    labels: dict[str, str]
    """Labels of the VirtualService."""


def virtual_service(
    name: str, args: RouteArgs, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """Route every request for the model's host through the gateway to the server's REST port.

    A plain resource rather than a component of its own: it always belongs to one ModelServer, and a
    wrapper per model would add a thousand registrations to a thousand-model plan for no information.
    """
    return k8s.apiextensions.CustomResource(
        name,
        api_version=API_VERSION,
        kind="VirtualService",
        metadata={"name": args["name"], "namespace": args["namespace"], "labels": args["labels"]},
        spec={
            "hosts": [args["host"]],
            "gateways": [args["gateway"]],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/"}}],
                    "route": [
                        {"destination": {"host": args["destination"], "port": {"number": args["port"]}}}
                    ],
                }
            ],
        },
        opts=opts,
    )
