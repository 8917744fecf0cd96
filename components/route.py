"""The public prediction route of one model server: an Istio VirtualService."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s

API_VERSION = "networking.istio.io/v1beta1"


class PredictionRouteArgs(TypedDict):
    """Inputs of a PredictionRoute."""

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


class PredictionRoute(pulumi.ComponentResource):
    """Routes every request for the model's host through the gateway to the server's REST port."""

    host: pulumi.Output[str]

    def __init__(self, name: str, args: PredictionRouteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fuseml-serving:istio:PredictionRoute", name, None, opts)
        k8s.apiextensions.CustomResource(
            f"{name}-virtualservice",
            api_version=API_VERSION,
            kind="VirtualService",
            metadata={"name": args["name"], "namespace": args["namespace"], "labels": args["labels"]},
            spec={
                "hosts": [args["host"]],
                "gateways": [args["gateway"]],
                "http": [
                    {
                        "match": [{"uri": {"prefix": "/"}}],
                        "route": [{"destination": {"host": args["destination"], "port": {"number": args["port"]}}}],
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.host = pulumi.Output.from_input(args["host"])
        self.register_outputs({"host": self.host})
