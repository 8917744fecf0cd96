"""The credential vocabulary: the secret config keys, and where each comes from in a step's environment.

Why here: `pulumi up` reads them as secrets, the step and the converter read them from the environment,
modelstore opens stores with them, and the redactor masks them; one list keeps the four in step.
"""

from __future__ import annotations

import re

#: Top-level secret config keys, read with `get_secret` and never stored in plain text, with what each is for.
SECRET_KEYS: dict[str, str] = {
    "aws_access_key_id": "S3 access key id; required with `aws_secret_access_key` for `s3://` models",
    "aws_secret_access_key": "S3 secret access key",
    "gcs_credentials": "GCS service-account key JSON; without it OVMS reads `gs://` buckets anonymously, so "
    "only public buckets work (the operator's pods get no workload-identity service account)",
    "azure_storage_connection_string": "Azure Blob Storage connection string",
}

#: Secret config keys -> the environment variable a FuseML step receives it in (the mlflow-store
#: extension's names); the GCS key arrives as a file named by GCS_CREDENTIALS_ENV instead.
CREDENTIAL_ENV: dict[str, str] = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "azure_storage_connection_string": "AZURE_STORAGE_CONNECTION_STRING",
}
GCS_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"

#: Environment variables whose values are secret wherever they come from (masked in every output).
SECRET_ENV_NAMES: tuple[str, ...] = (
    *CREDENTIAL_ENV.values(),
    "AWS_SESSION_TOKEN",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    "FUSEML_TOKEN",
)

#: A key whose value is a credential whatever the program knows of it (a secret written under a wrong
#: key, `aws_secret_acess_key`, is still a secret): its value is never shown.
SECRET_LOOKING_KEY = re.compile(
    r"(?i)(secret|passw|token|credential|connection_?string|private|access_?key|api_?key|auth(?!or))"
)
#: The user-info part of a URL (`scheme://user:password@host`).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^/@\s?#]*)@")


def looks_secret(key: str) -> bool:
    """Whether a config key or variable name names a credential (its last path segment does)."""
    last = re.split(r"[.\[\]:]", key.rstrip("]"))[-1] if key else ""
    return bool(SECRET_LOOKING_KEY.search(last or key))


def has_userinfo(url: str) -> bool:
    """Whether a URL carries a user (and maybe a password) before its host."""
    return bool(_USERINFO.search(url))


def without_userinfo(text: str) -> str:
    """Text with the user info of every URL in it replaced by `***`, so a password never shows."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
