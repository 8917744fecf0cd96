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

from components.config import gateway_ref
from kernel.errors import StepInputError

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
    """Read the Gateway's first host and split it into host prefix and domain, or say why not.

    `gateway` is a name in `namespace`, or `<namespace>/<name>` as istio.gateway allows.
    """
    env = dict(os.environ if env is None else env)
    namespace, name = gateway_ref(gateway, namespace)
    where = f"Gateway {namespace}/{name}"
    with tempfile.TemporaryDirectory(prefix="fuseml-step-") as private:
        api = _api(env, Path(private))
        url = f"{api.server}/apis/{ISTIO_API}/namespaces/{namespace}/gateways/{name}"
        try:
            response = requests.get(
                url, headers=api.headers, verify=api.verify, cert=api.cert, timeout=TIMEOUT_S
            )
            body = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError) as err:
            raise _unknown(f"{where} cannot be read ({type(err).__name__})") from None
    if response.status_code != 200:
        raise _unknown(f"{where} cannot be read (HTTP {response.status_code})")
    return split_host(_first_host(body), where)


def _unknown(why: str) -> StepInputError:
    return StepInputError(
        f"istio.domain: no FUSEML_SERVING_DOMAIN or ISTIO_DOMAIN given, and {why}; set FUSEML_SERVING_DOMAIN "
        "to the Istio ingress domain"
    )


def _first_host(gateway: Any) -> str:
    spec = gateway.get("spec") if isinstance(gateway, dict) else None
    servers = spec.get("servers") if isinstance(spec, dict) else None
    for server in servers if isinstance(servers, list) else []:
        hosts = server.get("hosts") if isinstance(server, dict) else None
        for host in hosts if isinstance(hosts, list) else []:
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


def _api(env: dict[str, str], private: Path) -> _Api:
    """The API server and credentials: in-cluster service account first, then the kubeconfig."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    token_file = SERVICE_ACCOUNT / "token"
    if host and token_file.is_file():
        token = token_file.read_text(encoding="utf-8").strip()
        ca = str(SERVICE_ACCOUNT / "ca.crt")
        return _Api(f"https://{host}:{port}", {"Authorization": f"Bearer {token}"}, ca)
    path = Path(env.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    try:
        return _from_kubeconfig(path, private)
    except (OSError, KeyError, TypeError, AttributeError, StopIteration, ValueError, yaml.YAMLError):
        # binascii.Error (bad base64) is a ValueError.
        raise _unknown(f"no service account or usable kubeconfig ({path}) to read the Gateway with") from None


def _from_kubeconfig(path: Path, private: Path) -> _Api:
    """The API server and credentials of the kubeconfig's current context; key material goes in private."""
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    context = _named(config, "contexts", config["current-context"])["context"]
    cluster = _named(config, "clusters", context["cluster"])["cluster"]
    user = _named(config, "users", context["user"])["user"]
    verify: bool | str = not cluster.get("insecure-skip-tls-verify", False)
    if cluster.get("certificate-authority-data"):
        verify = _private_file(private, "ca.crt", _decoded(cluster["certificate-authority-data"]))
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
            _private_file(private, "client.crt", _decoded(user["client-certificate-data"])),
            _private_file(private, "client.key", _decoded(user["client-key-data"])),
        )
    if not headers and cert is None:
        raise _unknown(f"the kubeconfig {path} has no token or client certificate (exec plugins are not run)")
    return _Api(str(cluster["server"]).rstrip("/"), headers, verify, cert)


def _decoded(data: str) -> bytes:
    """Kubeconfig `*-data` fields: strict base64 (binascii.Error, a ValueError, for anything else)."""
    return base64.b64decode(data, validate=True)


def _named(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    return next(item for item in config.get(section) or [] if item.get("name") == name)


def _private_file(folder: Path, name: str, content: bytes) -> str:
    """A file only this user can read, in a folder removed once the Gateway is read (requests wants paths)."""
    path = folder / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return str(path)
