"""Find the Istio domain as the original `ovms-predictor` step did: from the FuseML installer's Gateway.

The FuseML installer creates, for the ovms extension, a Gateway `ovms-gateway` in the workflow namespace
whose one server host is `*.<host_prefix>.<domain>` (the extension's values schema,
reference/fuseml/extension-templates/ovms-values-schema.yaml, names it; the installer's ovms description
gives the `*.ovms` host prefix). The original step read that host and served each model at
`<app>.<host_prefix>.<domain>`. When the workflow gives no domain, this step does the same, with the
pod's own service account (or the ambient kubeconfig when run outside a cluster).
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from step.errors import StepInputError

#: The Gateway the FuseML installer creates for the ovms extension.
DEFAULT_GATEWAY = "ovms-gateway"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TIMEOUT_S = 10.0
ISTIO_API = "networking.istio.io/v1beta1"


@dataclass(frozen=True)
class Found:
    """What the Gateway says: the domain and the host prefix of the model hosts."""

    domain: str
    host_prefix: str


@dataclass(frozen=True)
class _Api:
    server: str
    headers: dict[str, str]
    verify: bool | str
    cert: tuple[str, str] | None = None


def discover(namespace: str, gateway: str, env: dict[str, str] | None = None) -> Found:
    """Read the Gateway's first host and split it into host prefix and domain, or say why not."""
    env = dict(os.environ if env is None else env)
    where = f"Gateway {namespace}/{gateway}"
    api = _api(env)
    url = f"{api.server}/apis/{ISTIO_API}/namespaces/{namespace}/gateways/{gateway}"
    try:
        response = requests.get(url, headers=api.headers, verify=api.verify, cert=api.cert, timeout=TIMEOUT_S)
    except requests.RequestException as err:
        raise _unknown(f"{where} cannot be read ({type(err).__name__})") from None
    if response.status_code != 200:
        raise _unknown(f"{where} cannot be read (HTTP {response.status_code})")
    return split_host(_first_host(response.json()), where)


def _unknown(why: str) -> StepInputError:
    return StepInputError(
        f"istio.domain: no FUSEML_SERVING_DOMAIN or ISTIO_DOMAIN given, and {why}; set FUSEML_SERVING_DOMAIN "
        "to the Istio ingress domain"
    )


def _first_host(gateway: dict[str, Any]) -> str:
    for server in gateway.get("spec", {}).get("servers") or []:
        for host in server.get("hosts") or []:
            return str(host)
    return ""


def split_host(host: str, where: str) -> Found:
    """`*.ovms.34.118.93.249.nip.io` -> host prefix `ovms`, domain `34.118.93.249.nip.io`."""
    # A Gateway host may name a namespace (`ns/host`); the wildcard part is what models hang under.
    host = host.rsplit("/", 1)[-1]
    parts = host.split(".")
    if len(parts) < 3 or parts[0] != "*":
        raise _unknown(f"{where} has no host like *.<prefix>.<domain> (its first is {host!r})")
    return Found(domain=".".join(parts[2:]), host_prefix=parts[1])


def _api(env: dict[str, str]) -> _Api:
    """The API server and credentials: in-cluster service account first, then the kubeconfig."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    token_file = SERVICE_ACCOUNT / "token"
    if host and token_file.is_file():
        token = token_file.read_text(encoding="utf-8").strip()
        ca = str(SERVICE_ACCOUNT / "ca.crt")
        return _Api(f"https://{host}:{port}", {"Authorization": f"Bearer {token}"}, ca)
    return _from_kubeconfig(Path(env.get("KUBECONFIG") or Path.home() / ".kube" / "config"))


def _from_kubeconfig(path: Path) -> _Api:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        context = _named(config, "contexts", config["current-context"])["context"]
        cluster = _named(config, "clusters", context["cluster"])["cluster"]
        user = _named(config, "users", context["user"])["user"]
    except (OSError, KeyError, TypeError, StopIteration, yaml.YAMLError):
        raise _unknown(f"no service account or usable kubeconfig ({path}) to read the Gateway with") from None
    verify: bool | str = not cluster.get("insecure-skip-tls-verify", False)
    if cluster.get("certificate-authority-data"):
        verify = _temp_file(base64.b64decode(cluster["certificate-authority-data"]))
    elif cluster.get("certificate-authority"):
        verify = cluster["certificate-authority"]
    headers: dict[str, str] = {}
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text(encoding="utf-8").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    cert = None
    if user.get("client-certificate-data") and user.get("client-key-data"):
        cert = (
            _temp_file(base64.b64decode(user["client-certificate-data"])),
            _temp_file(base64.b64decode(user["client-key-data"])),
        )
    if not headers and cert is None:
        raise _unknown(f"the kubeconfig {path} has no token or client certificate (exec plugins are not run)")
    return _Api(str(cluster["server"]).rstrip("/"), headers, verify, cert)


def _named(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    return next(item for item in config.get(section) or [] if item.get("name") == name)


def _temp_file(content: bytes) -> str:
    """A private file holding a certificate or key from the kubeconfig (requests wants paths)."""
    with tempfile.NamedTemporaryFile(prefix="fuseml-step-", delete=False) as handle:
        handle.write(content)
    os.chmod(handle.name, 0o600)
    return handle.name
