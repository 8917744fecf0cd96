"""Mask known secret values in every line the step prints, because engine output and errors can echo them."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

MASK = "[secret]"

#: Environment variables whose values are secret wherever they come from.
SECRET_ENV_NAMES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    "FUSEML_TOKEN",
)


class Redactor:
    """Replace each known secret, and its base64 form (Kubernetes Secret data), with a mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Learn more secret values (known only once inputs, files or backend settings are read)."""
        variants = set(self._secrets)
        for secret in secrets:
            variants.update(_variants(secret))
        # Longest first, so a secret containing another is masked whole, not left half visible.
        self._secrets = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        """A redactor for the secret env vars, plus extra values (file contents, resolved secrets)."""
        return cls([*(env.get(name, "") for name in SECRET_ENV_NAMES), *extra])


def _variants(secret: str) -> set[str]:
    value = secret.strip()
    if not value:
        return set()
    found = {value, base64.b64encode(value.encode()).decode()}
    # A multi-line secret (a service account JSON) is printed line by line, so mask each substantial line.
    found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 8)
    return found
