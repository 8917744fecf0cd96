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
    r"(?i)(secret|passw|token|credential|connection_?string|private|access_?key|api_?key|authori[sz]ation|"
    r"auth(?!or))"
)
#: The user-info part of a URL (`scheme://user:password@host`). The scheme is bounded (real ones are a few
#: letters): unbounded, every start in a long run such as `x.x.x...` rescans the rest of the run, and a 1 MB
#: value took minutes.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,63}://)(?P<info>[^/@\s?#]*)@")


def looks_secret(key: str) -> bool:
    """Whether a config key or variable name names a credential (its last path segment does)."""
    last = re.split(r"[.\[\]:]", key.rstrip("]"))[-1] if key else ""
    return bool(SECRET_LOOKING_KEY.search(last or key))


def has_userinfo(url: str) -> bool:
    """Whether a URL carries a user (and maybe a password) before its host."""
    return bool(_USERINFO.search(url))


#: What ends a `user:password` written before an `@` with no scheme (looking back from the `@`).
_INFO_STOP = frozenset(" \t\r\n\f\v\"'`/?#@=&,;()<>{}[]")


def without_userinfo(text: str) -> str:
    """Text with the user info of every URL in it replaced by `***`, so a password never shows; a
    `user:password@host` with no scheme too (an S3 endpoint is often written `host:port`).

    The schemeless form is found by looking back from each `@` to the nearest separator, so the work stays
    linear in the text whatever it holds (a regex for it rescans long runs from every start)."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    pieces: list[str] = []
    last = 0
    at = text.find("@")
    while at != -1:
        start = at
        while start > last and text[start - 1] not in _INFO_STOP:
            start -= 1
        host = text[at + 1 : at + 2]
        if ":" in text[start:at] and (host.isalnum() or host == "["):
            pieces += [text[last:start], "***"]
            last = at
        at = text.find("@", at + 1)
    return "".join([*pieces, text[last:]])
