"""Names and their limits: what Kubernetes, DNS, Helm and the program allow in each name it derives.

Why one place: the config refuses a name before anything is registered, and the policy pack checks the
same names on the objects; both must use the same rule, with the same upstream source.
"""

from __future__ import annotations

import re

#: The stack config namespace (`fuseml-serving:<key>`) and the Pulumi project.
NAMESPACE = "fuseml-serving"

#: RFC 1123 label, as Kubernetes checks names and hosts check each dot-separated part: at most 63 chars.
#: ASCII only (`re.ASCII` is implied by the explicit classes; no \d, which matches other scripts' digits).
DNS_LABEL = re.compile(r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL_MAX = 63
#: An RFC 1123 subdomain (Kubernetes object names, label prefixes): dot-separated labels.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: A host name's limit (RFC 1123), for every host the program derives.
MAX_HOST = 253

#: A Kubernetes label value: at most 63 chars, alphanumeric at both ends
#: (k8s.io/apimachinery pkg/util/validation IsValidLabelValue).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_VALUE_MAX = 63
#: The name part of a label key (the same file's qualifiedNameFmt), at most 63 chars.
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

#: Integers the ModelServer CRD and the GKE API hold as int32.
INT32_MAX = 2**31 - 1

#: Kubernetes object names built from an app name: `ovms-<app_name>`. The operator installs each
#: ModelServer as a Helm release named after the CR, and Helm refuses release names over 53 characters
#: (helm pkg/chartutil validateReleaseName); past it `pulumi up` succeeds and the route serves 503s.
RESOURCE_PREFIX = "ovms-"
HELM_RELEASE_NAME_MAX = 53
MAX_APP_NAME = HELM_RELEASE_NAME_MAX - len(RESOURCE_PREFIX)


def is_dns_label(text: object) -> bool:
    """Whether text is an RFC 1123 label (a Kubernetes name, one part of a host)."""
    return isinstance(text, str) and bool(DNS_LABEL.fullmatch(text))


def is_host(text: object) -> bool:
    """Whether text is a host name: dot-separated RFC 1123 labels, at most MAX_HOST chars in all."""
    return (
        isinstance(text, str)
        and len(text) <= MAX_HOST
        and all(DNS_LABEL.fullmatch(part) for part in text.split("."))
    )


def is_label_key(name: str) -> bool:
    """Whether name is a Kubernetes label key: an optional DNS subdomain prefix (253) and a name (63)."""
    prefix, _, base = name.rpartition("/")
    return (not prefix or (len(prefix) <= MAX_HOST and bool(DNS_SUBDOMAIN.fullmatch(prefix)))) and (
        len(base) <= LABEL_VALUE_MAX and bool(LABEL_NAME.fullmatch(base))
    )
