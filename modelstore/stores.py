"""Model stores by URL scheme: list, read, download and publish files below one folder URL.

A store is rooted at the URL it was opened with; keys are '/'-separated paths relative to that root.
Publishing writes a folder under a staging name first and moves it into place only once every file is
there, so a failed run leaves no half-written version where a server would load it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kernel.credentials import CREDENTIAL_ENV, GCS_CREDENTIALS_ENV, SECRET_KEYS
from modelstore.errors import StoreError

#: URL schemes, as OVMS reads them (model_server src/filesystem.cpp): az:// is Azure Blob Storage and
#: azfs:// Azure Files; a plain absolute path is a local (or mounted) folder.
SCHEMES = ("s3", "gs", "az", "azfs")

#: Credential keys, named as the Pulumi program's secret config keys, so the stack's secrets can be passed
#: as they are; CREDENTIAL_ENV says which environment variable each arrives in (gcs_credentials: the
#: content of the file GCS_CREDENTIALS_ENV names). The kernel states the vocabulary once.
CREDENTIAL_KEYS: tuple[str, ...] = tuple(SECRET_KEYS)

#: S3 endpoint variables, first set wins: the step's own, then the one the mlflow-store extension sets.
ENDPOINT_ENV = ("S3_ENDPOINT", "MLFLOW_S3_ENDPOINT_URL")
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")

#: The total time, in seconds, reading one store may take by default: detection refuses the models still
#: unread past it, and each client call (its retries included) is bounded by it. The stack's
#: `storage.read_timeout_s` defaults to it.
DEFAULT_READ_TIMEOUT_S = 15.0
#: A connection attempt waits at most this long (or the read bound, if shorter).
CONNECT_TIMEOUT_S = 5.0

#: What an S3 endpoint may be: the clients (boto3's endpoint_url, OVMS's s3_compat_api_endpoint, KServe's
#: s3-endpoint annotation, rclone's endpoint) all take a scheme and a host; a user and password in it
#: would be a credential in plain text wherever the URL is written.
ENDPOINT_ALLOWED = "http[s]://host[:port], e.g. http://minio:9000 (no path, user, query or fragment)"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*")

#: The fields google-auth needs to sign in with a service-account key: client_email and token_uri
#: (google/oauth2/service_account.py, from_service_account_info: require=[...]) and private_key
#: (google/auth/crypt/base.py, from_service_account_info); `type` is what the key file says it is.
GCS_KEY_FIELDS = ("client_email", "private_key", "token_uri")

#: Staging folders start with a dot and hold no digit-only name, so OVMS, which loads only numeric
#: version folders, never picks one up (OVMS docs, "Preparing a Model Repository").
STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class StoreSettings:
    """How to reach the stores: credentials (keys of CREDENTIAL_KEYS), the S3 endpoint and region, and
    the time bound of reading one store (each client call, retries included, stays within it)."""

    credentials: Mapping[str, str]
    endpoint: str | None = None
    region: str | None = None
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S


def endpoint_problem(text: str) -> str | None:
    """Why text is not an S3 endpoint of the form ENDPOINT_ALLOWED, or None when it is one.

    Why refused rather than repaired: `minio:9000` reads as scheme `minio` to a URL parser (boto3 then
    fails on it), and a user and password in the URL would be copied into resources in plain text.
    """
    if "@" in text:
        return (
            "a user and password in the endpoint are a credential in plain text: give them as the secret "
            "keys (aws_access_key_id, aws_secret_access_key; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in a "
            f"step) and the endpoint as {ENDPOINT_ALLOWED}"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return ENDPOINT_ALLOWED
    host = parts.hostname or ""
    ipv6 = parts.netloc.startswith("[")
    if (
        parts.scheme not in ("http", "https")
        or not text.isascii()
        or any(c.isspace() for c in text)
        or not (ipv6 or _HOST.fullmatch(host))
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or (port is not None and port == 0)
    ):
        return ENDPOINT_ALLOWED
    return None


def masked_endpoint(text: str) -> str:
    """The endpoint as it may be shown: any user and password (everything up to the last '@') masked."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", r"\1***@", text, flags=re.S)


def gcs_key_problem(text: str) -> str | None:
    """Why text is not a GCS service-account key (JSON), or None; never quotes the text."""
    try:
        info = json.loads(text)
    except ValueError:
        return "not JSON: it must be a service-account key file's content (a JSON object)"
    if not isinstance(info, dict):
        kind = _JSON_KINDS.get(type(info), "value")
        return f"a JSON {kind}, not an object: it must be a service-account key (a JSON object)"
    if info.get("type") != "service_account":
        return 'not a service-account key: its "type" must be "service_account"'
    missing = [name for name in GCS_KEY_FIELDS if not isinstance(info.get(name), str) or not info[name]]
    if missing:
        return f"a service-account key without {', '.join(missing)}"
    return None


_JSON_KINDS = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def credentials_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The credentials the environment gives, keyed as CREDENTIAL_KEYS; a missing one is left out.

    The GCS key file is checked here, naming the variable (never its content): a step finds out before it
    reads or deploys anything.
    """
    found = {key: env[name] for key, name in CREDENTIAL_ENV.items() if env.get(name, "").strip()}
    path = env.get(GCS_CREDENTIALS_ENV, "").strip()
    if path:
        try:
            found["gcs_credentials"] = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not text"
            raise StoreError(f"{GCS_CREDENTIALS_ENV}={path!r} cannot be read: {reason}") from None
        problem = gcs_key_problem(found["gcs_credentials"])
        if problem:
            raise StoreError(f"{GCS_CREDENTIALS_ENV}: the file {path!r} is {problem}")
    return found


def endpoint_from_env(env: Mapping[str, str]) -> str | None:
    """The S3 endpoint the environment gives (ENDPOINT_ENV, first set wins), checked; StoreError naming
    the variable otherwise (its value shown with any user and password masked)."""
    for name in ENDPOINT_ENV:
        value = env.get(name, "").strip()
        if value:
            problem = endpoint_problem(value)
            if problem:
                raise StoreError(f"{name}: got {masked_endpoint(value)!r}; allowed: {problem}")
            return value.rstrip("/")
    return None


def settings_from_env(env: Mapping[str, str]) -> StoreSettings:
    """Credentials, endpoint and region from the environment variables a FuseML step receives."""
    return StoreSettings(
        credentials=credentials_from_env(env),
        endpoint=endpoint_from_env(env),
        region=_first(env, REGION_ENV),
    )


class Clients:
    """One client per store (scheme, endpoint or account, bucket and credentials), shared by every model
    folder opened through it, from any thread.

    Why shared: a client costs milliseconds and megabytes to build (boto3 loads its service model), so
    one per model folder made 2,000 models take minutes and a gigabyte. Sharing across threads is what
    each SDK supports: boto3 "low-level clients are thread safe" (boto3 docs, guide/clients.html,
    Multithreading), google-cloud-storage "it is safe to share instances across threads" (python-storage
    docs/index.rst), Azure SDK clients are thread-safe (azure-sdk-for-python, "Thread safety" in its
    general guidelines).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[tuple[Any, ...], _Slot] = {}

    def get(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The client for key, built once (by the first caller; others wait for that store only)."""
        with self._lock:
            slot = self._made.setdefault(key, _Slot())
        with slot.lock:
            if slot.error is not None:
                raise slot.error
            if slot.client is None:
                try:
                    slot.client = make()
                except StoreError as err:
                    slot.error = err
                    raise
        return slot.client


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: Any = None
    error: StoreError | None = None


class Store:
    """Files below one folder URL. Subclasses implement the five primitives; publishing is built on them."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        #: How a failure of the whole store names it (cloud stores: scheme://bucket, and the endpoint).
        self.store = self.url

    # --- primitives ------------------------------------------------------------------------------------
    def list(self) -> list[str]:
        """Every file below the root, as sorted relative keys; an absent folder lists as empty."""
        raise NotImplementedError

    def read(self, key: str) -> bytes:
        raise NotImplementedError

    def write(self, key: str, source: Path) -> None:
        """Upload one local file to key."""
        raise NotImplementedError

    def copy(self, src: str, dst: str) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    # --- built on them ---------------------------------------------------------------------------------
    def child(self, key: str) -> str:
        """The URL of a key below the root."""
        return f"{self.url}/{key}" if key else self.url

    def download(self, key: str, target: Path) -> None:
        """Copy one file to a local path (subclasses stream it)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.read(key))

    def fetch(self, target: Path, keys: Iterable[str] | None = None) -> list[str]:
        """Download the given keys (default: all) into a local folder, keeping their relative paths."""
        wanted = self.list() if keys is None else sorted(keys)
        for key in wanted:
            self.download(key, target / key)
        return wanted

    def publish(self, folder: Path, dest: str, order: Iterable[str] = ()) -> None:
        """Put a local folder's files at `dest` (a key prefix), all or nothing as far as the store allows.

        Object stores have no rename: the files go to a staging prefix first, then are copied into place,
        `order` last (the file that marks the version complete), then the staging copies are deleted.
        """
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        last = [name for name in order if name in names]
        names = [name for name in names if name not in last] + last
        staging = f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        written: list[str] = []
        try:
            for name in names:
                self.write(f"{staging}/{name}", folder / name)
                written.append(f"{staging}/{name}")
            for name in names:
                self.copy(f"{staging}/{name}", f"{dest}/{name}")
        finally:
            for key in written:
                # A leftover staging copy is invisible to OVMS; the failure that matters is raised.
                with contextlib.suppress(StoreError):
                    self.delete(key)


class LocalStore(Store):
    """A local or mounted folder; publishing is one rename, so it is atomic."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.root = Path(url)

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        try:
            return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        except OSError as err:
            raise StoreError(f"{self.url} cannot be listed: {err.strerror}") from None

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as err:
            raise StoreError(f"{self.child(key)} cannot be read: {err.strerror}") from None

    def download(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(self.root / key, target)
        except OSError as err:
            raise StoreError(f"{self.child(key)} cannot be read: {err.strerror}") from None

    def write(self, key: str, source: Path) -> None:
        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
        except OSError as err:
            raise StoreError(f"{self.child(key)} cannot be written: {err.strerror}") from None

    def copy(self, src: str, dst: str) -> None:
        self.write(dst, self.root / src)

    def delete(self, key: str) -> None:
        try:
            (self.root / key).unlink(missing_ok=True)
        except OSError as err:
            raise StoreError(f"{self.child(key)} cannot be deleted: {err.strerror}") from None

    def publish(self, folder: Path, dest: str, order: Iterable[str] = ()) -> None:
        target = self.root / dest
        staging = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.copytree(folder, staging)
            # rename(2) onto a path that does not exist is atomic on one file system (POSIX rename).
            os.rename(staging, target)
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise StoreError(f"{self.child(dest)} cannot be written: {err.strerror}") from None


class S3Store(Store):
    """An S3 bucket prefix, on AWS or an S3-compatible server (MinIO) at `endpoint`, path-style."""

    def __init__(
        self, url: str, bucket: str, prefix: str, settings: StoreSettings, clients: Clients | None = None
    ) -> None:
        super().__init__(url)
        self.bucket, self.prefix, self.endpoint = bucket, prefix.strip("/"), settings.endpoint
        self.store = store_name("s3", bucket, settings)
        creds = settings.credentials
        key = (
            "s3",
            bucket,
            settings.endpoint,
            settings.region,
            creds.get("aws_access_key_id"),
            creds.get("aws_secret_access_key"),
            settings.read_timeout_s,
        )
        self.client = (clients or Clients()).get(key, lambda: _s3_client(url, settings))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        reason, whole = _s3_reason(err, self.endpoint)
        if whole:
            return StoreError(f"{self.store} cannot be read: {reason}", store=self.store)
        return StoreError(f"{self.child(key)} cannot be {what}: {reason}")

    def list(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base
            ):
                keys.extend(item["Key"][len(base) :] for item in page.get("Contents", ()))
        except Exception as err:
            raise self._fail(err, "listed") from None
        # "Folder" marker objects (keys ending in '/') that some tools create are not files.
        return sorted(key for key in keys if key and not key.endswith("/"))

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as err:
            raise self._fail(err, "read", key) from None

    def download(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self._key(key), str(target))
        except Exception as err:
            raise self._fail(err, "read", key) from None

    def write(self, key: str, source: Path) -> None:
        try:
            self.client.upload_file(str(source), self.bucket, self._key(key))
        except Exception as err:
            raise self._fail(err, "written", key) from None

    def copy(self, src: str, dst: str) -> None:
        try:
            # Managed copy: multipart for objects over 5 GB, which a single CopyObject refuses.
            self.client.copy({"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst))
        except Exception as err:
            raise self._fail(err, "written", dst) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as err:
            raise self._fail(err, "deleted", key) from None


class GCSStore(Store):
    """A Google Cloud Storage bucket prefix, through google-cloud-storage (imported only here).

    Every call is bounded by the settings' read_timeout_s: its connect and read timeouts, and its retries
    (the client's default retry keeps trying an unreachable endpoint for up to 120 s per call:
    google/api_core/retry, `_DEFAULT_DEADLINE`, with google/cloud/storage/retry.py `DEFAULT_RETRY`).
    """

    def __init__(
        self, url: str, bucket: str, prefix: str, settings: StoreSettings, clients: Clients | None = None
    ) -> None:
        super().__init__(url)
        self.prefix = prefix.strip("/")
        self.store = f"gs://{bucket}"
        bound = settings.read_timeout_s
        info = settings.credentials.get("gcs_credentials")
        key = ("gs", bucket, info, bound)
        made = (clients or Clients()).get(key, lambda: _gcs_bucket(url, bucket, info, bound))
        self.bucket, self.retry = made
        self.timeout = (min(CONNECT_TIMEOUT_S, bound), bound)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        reason, whole = _gcs_reason(err, what)
        if whole:
            return StoreError(f"{self.store} cannot be read: {reason}", store=self.store)
        return StoreError(f"{self.child(key)} cannot be {what}: {reason}")

    def list(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        try:
            blobs = self.bucket.list_blobs(prefix=base, timeout=self.timeout, retry=self.retry)
            names = [blob.name[len(base) :] for blob in blobs]
        except Exception as err:
            raise self._fail(err, "listed") from None
        return sorted(name for name in names if name and not name.endswith("/"))

    def read(self, key: str) -> bytes:
        try:
            blob = self.bucket.blob(self._key(key))
            return blob.download_as_bytes(timeout=self.timeout, retry=self.retry)
        except Exception as err:
            raise self._fail(err, "read", key) from None

    def write(self, key: str, source: Path) -> None:
        try:
            self.bucket.blob(self._key(key)).upload_from_filename(str(source), timeout=self.timeout)
        except Exception as err:
            raise self._fail(err, "written", key) from None

    def copy(self, src: str, dst: str) -> None:
        try:
            source = self.bucket.blob(self._key(src))
            self.bucket.copy_blob(source, self.bucket, self._key(dst), timeout=self.timeout, retry=self.retry)
        except Exception as err:
            raise self._fail(err, "written", dst) from None

    def delete(self, key: str) -> None:
        try:
            self.bucket.blob(self._key(key)).delete(timeout=self.timeout, retry=self.retry)
        except Exception as err:
            raise self._fail(err, "deleted", key) from None


class AzureBlobStore(Store):
    """An Azure Blob Storage container prefix (az://container/path), through azure-storage-blob."""

    def __init__(
        self, url: str, container: str, prefix: str, settings: StoreSettings, clients: Clients | None = None
    ) -> None:
        super().__init__(url)
        self.prefix = prefix.strip("/")
        self.store = f"az://{container}"
        conn = settings.credentials.get("azure_storage_connection_string")
        key = ("az", container, conn, settings.read_timeout_s)
        self.container = (clients or Clients()).get(
            key, lambda: _azure_client(url, "az", conn, container, settings.read_timeout_s)
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        return _azure_failure(self, err, what, key)

    def list(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        try:
            names = [blob.name[len(base) :] for blob in self.container.list_blobs(name_starts_with=base)]
        except Exception as err:
            raise self._fail(err, "listed") from None
        return sorted(name for name in names if name and not name.endswith("/"))

    def read(self, key: str) -> bytes:
        try:
            return self.container.download_blob(self._key(key)).readall()
        except Exception as err:
            raise self._fail(err, "read", key) from None

    def write(self, key: str, source: Path) -> None:
        try:
            with source.open("rb") as handle:
                self.container.upload_blob(self._key(key), handle, overwrite=True)
        except Exception as err:
            raise self._fail(err, "written", key) from None

    def copy(self, src: str, dst: str) -> None:
        try:
            source = self.container.get_blob_client(self._key(src)).url
            self.container.get_blob_client(self._key(dst)).start_copy_from_url(source, requires_sync=True)
        except Exception as err:
            raise self._fail(err, "written", dst) from None

    def delete(self, key: str) -> None:
        try:
            self.container.delete_blob(self._key(key))
        except Exception as err:
            raise self._fail(err, "deleted", key) from None


class AzureFileStore(Store):
    """An Azure Files share folder (azfs://share/path), through azure-storage-file-share; read-only here."""

    def __init__(
        self, url: str, share: str, prefix: str, settings: StoreSettings, clients: Clients | None = None
    ) -> None:
        super().__init__(url)
        self.prefix = prefix.strip("/")
        self.store = f"azfs://{share}"
        conn = settings.credentials.get("azure_storage_connection_string")
        key = ("azfs", share, conn, settings.read_timeout_s)
        self.share = (clients or Clients()).get(
            key, lambda: _azure_client(url, "azfs", conn, share, settings.read_timeout_s)
        )

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        return _azure_failure(self, err, what, key)

    def list(self) -> list[str]:
        found: list[str] = []

        def walk(rel: str) -> None:
            path = "/".join(part for part in (self.prefix, rel) if part)
            for item in self.share.get_directory_client(path).list_directories_and_files():
                name = f"{rel}/{item['name']}" if rel else item["name"]
                if item.get("is_directory"):
                    walk(name)
                else:
                    found.append(name)

        try:
            walk("")
        except Exception as err:
            if getattr(err, "error_code", None) in ("ResourceNotFound", "ParentNotFound"):
                return []
            raise self._fail(err, "listed") from None
        return sorted(found)

    def read(self, key: str) -> bytes:
        path = "/".join(part for part in (self.prefix, key) if part)
        try:
            return self.share.get_file_client(path).download_file().readall()
        except Exception as err:
            raise self._fail(err, "read", key) from None

    def write(self, key: str, source: Path) -> None:
        raise StoreError(f"{self.child(key)}: writing to azfs:// is not supported; publish to az:// instead")

    def copy(self, src: str, dst: str) -> None:
        self.write(dst, Path(src))

    def delete(self, key: str) -> None:
        self.write(key, Path(key))


def split_url(url: str) -> tuple[str, str, str]:
    """(scheme, bucket, prefix) of a store URL; scheme "" for an absolute local path."""
    text = url.strip()
    if text.startswith("/") and "://" not in text:
        return "", "", text
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    bucket, _, prefix = rest.partition("/")
    if not sep or scheme not in SCHEMES or not bucket:
        allowed = ", ".join(f"{s}://<bucket>/<path>" for s in SCHEMES)
        raise StoreError(f"{url!r} is not a model store URL; allowed: {allowed} or an absolute local path")
    return scheme, bucket, prefix.strip("/")


def store_name(scheme: str, bucket: str, settings: StoreSettings) -> str:
    """How a failure of a whole store names it: scheme://bucket, and for S3 the endpoint it is read at."""
    at = f" at {settings.endpoint}" if scheme == "s3" and settings.endpoint else ""
    return f"{scheme}://{bucket}{at}"


def open_store(url: str, settings: StoreSettings | None = None, clients: Clients | None = None) -> Store:
    """The store rooted at url; nothing is contacted yet, except to build a client.

    `clients` shares one client per store between the folders opened through it (detect_many does).
    """
    settings = settings or StoreSettings(credentials={})
    scheme, bucket, prefix = split_url(url)
    url = url.strip().rstrip("/") or "/"
    if scheme == "":
        return LocalStore(prefix)
    classes: dict[str, Any] = {"s3": S3Store, "gs": GCSStore, "az": AzureBlobStore, "azfs": AzureFileStore}
    return classes[scheme](url, bucket, prefix, settings, clients)


#: Concurrent reads of one run (detect_many's workers) and so each client's connection pool: more
#: threads than pooled connections would open and drop a connection per call.
POOL_SIZE = 16


def _s3_client(url: str, settings: StoreSettings) -> Any:
    """A boto3 S3 client for these settings, its calls bounded by settings.read_timeout_s."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise StoreError(f"{url}: reading s3:// needs boto3 (pip install boto3)") from None
    endpoint, bound = settings.endpoint, settings.read_timeout_s
    store = f"s3://{split_url(url)[1]}"
    if endpoint and endpoint_problem(endpoint):
        # The config and the step's inputs refuse it first; a direct caller gets the same rule.
        shown = masked_endpoint(endpoint)
        raise StoreError(f"the S3 endpoint {shown!r} is not {ENDPOINT_ALLOWED}", store=store)
    # Path-style addressing: MinIO and most S3-compatible servers have no per-bucket DNS names. One retry
    # (two attempts in all), each connection attempt within half the read bound: an unreachable endpoint
    # fails within the bound, not after minutes.
    config = Config(
        s3={"addressing_style": "path"} if endpoint else {},
        retries={"total_max_attempts": 2, "mode": "standard"},
        connect_timeout=min(CONNECT_TIMEOUT_S, bound / 2),
        read_timeout=bound,
        max_pool_connections=POOL_SIZE,
    )
    creds = settings.credentials
    try:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=settings.region or "us-east-1",
            aws_access_key_id=creds.get("aws_access_key_id") or None,
            aws_secret_access_key=creds.get("aws_secret_access_key") or None,
            config=config,
        )
    except Exception as err:
        # botocore refuses a malformed region or endpoint while building the client (ValueError kinds).
        reason = f"the S3 client cannot be built ({type(err).__name__}): check S3_ENDPOINT and AWS_REGION"
        raise StoreError(f"{store} cannot be read: {reason}", store=store) from None


def _quiet_google() -> None:
    """Silence google-api-core's FutureWarning about this Python version, that message only.

    google-api-core warns on import that Google will stop supporting this Python version in its new
    releases once Python reaches its end of life (google/api_core/__init__.py calls check_python_version,
    google/api_core/_python_version_support.py). It asks for a Python upgrade, says nothing about this
    program's use of the client, and was printed by every run that read a gs:// store. Installed just
    before the import that warns (the filter then also holds inside a caller's catch_warnings); only that
    message from that module is silenced, its other warnings still show.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"You are using a (non-supported )?Python version",
        category=FutureWarning,
        module=r"google\.api_core\._python_version_support",
    )


def _gcs_bucket(url: str, bucket: str, info: str | None, bound: float) -> tuple[Any, Any]:
    """(the bucket handle, the retry policy) of a gs:// store; StoreError naming gcs_credentials when the
    key is not a service-account key (its content is never quoted)."""
    store = f"gs://{bucket}"
    _quiet_google()
    try:
        import requests
        from google.cloud import storage
        from google.cloud.storage.retry import DEFAULT_RETRY
        from google.oauth2 import service_account
    except ImportError:
        raise StoreError(f"{url}: reading gs:// needs google-cloud-storage (pip install it)") from None
    if info:
        problem = gcs_key_problem(info)
        if problem:
            raise StoreError(f"{store} cannot be read: gcs_credentials is {problem}", store=store)
        try:
            creds = service_account.Credentials.from_service_account_info(json.loads(info))
        except Exception as err:
            # google-auth parses the private key here: a key that is not PEM raises ValueError and kin.
            reason = f"gcs_credentials is not a usable service-account key ({type(err).__name__})"
            raise StoreError(f"{store} cannot be read: {reason}", store=store) from None
        client = storage.Client(project=creds.project_id, credentials=creds)
    else:
        # No key: the machine's own identity (GKE workload identity), else anonymous (public data).
        try:
            client = storage.Client()
        except Exception:
            client = storage.Client.create_anonymous_client()
    # The client's requests session pools 10 connections per host (requests' default); as many as there
    # are workers, so concurrent reads reuse connections instead of dropping them.
    adapter = requests.adapters.HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE)
    for prefix in ("https://", "http://"):
        client._http.mount(prefix, adapter)
    # Retries stop at the read bound (the default retries an unreachable endpoint for 120 s per call).
    return client.bucket(bucket), DEFAULT_RETRY.with_timeout(bound)


def _azure_client(url: str, scheme: str, conn: str | None, name: str, bound: float) -> Any:
    """The container (az://) or share (azfs://) client, its calls bounded by the read bound."""
    package = "azure-storage-blob" if scheme == "az" else "azure-storage-file-share"
    try:
        if scheme == "az":
            from azure.storage.blob import ContainerClient as Client
            from azure.storage.blob import LinearRetry
        else:
            from azure.storage.fileshare import LinearRetry
            from azure.storage.fileshare import ShareClient as Client
    except ImportError:
        raise StoreError(f"{url}: reading {scheme}:// needs {package} (pip install it)") from None
    store = f"{scheme}://{name}"
    if not conn:
        raise StoreError(f"{url}: reading {scheme}:// needs AZURE_STORAGE_CONNECTION_STRING", store=store)
    # azure-core's transport timeouts within the bound, and one retry after a second, instead of the
    # storage SDK's default ExponentialRetry (initial backoff 15 s: a refused connection took 20 s; its
    # _shared/policies.py in azure-storage-blob and azure-storage-file-share).
    options = {
        "connection_timeout": min(CONNECT_TIMEOUT_S, bound / 2),
        "read_timeout": bound,
        "retry_policy": LinearRetry(backoff=1, retry_total=1, random_jitter_range=1),
    }
    try:
        return Client.from_connection_string(conn, name, **options)
    except ValueError:
        reason = "AZURE_STORAGE_CONNECTION_STRING is not a connection string"
        raise StoreError(f"{url}: {reason}", store=store) from None


def _s3_reason(err: Exception, endpoint: str | None) -> tuple[str, bool]:
    """(a one-line reason, whether it is the whole store's) from a boto3 failure: the S3 error code, never
    the request (it has signatures)."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        error, meta = response.get("Error", {}), response.get("ResponseMetadata", {})
        code = str(error.get("Code") or meta.get("HTTPStatusCode"))
        hints = {
            "NoSuchBucket": "the bucket does not exist",
            "NoSuchKey": "no such object",
            "404": "no such object",
            "AccessDenied": "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            "403": "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            "InvalidAccessKeyId": "the access key is not known to the store (check AWS_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch": "the secret key is wrong (check AWS_SECRET_ACCESS_KEY)",
        }
        whole = code in ("NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName")
        return (f"{code}: {hints[code]}" if code in hints else code), whole
    name = type(err).__name__
    where = endpoint or "of AWS"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        return f"the S3 endpoint {where} cannot be reached (check S3_ENDPOINT)", True
    if name == "ReadTimeoutError":
        return f"the S3 endpoint {where} does not answer (check S3_ENDPOINT)", True
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", True
    return name, False


def _gcs_reason(err: Exception, what: str) -> tuple[str, bool]:
    """(a one-line reason, whether it is the whole store's) from a google-cloud-storage failure."""
    name = type(err).__name__
    if name == "RetryError" and getattr(err, "cause", None) is not None:
        reason, whole = _gcs_reason(err.cause, what)  # type: ignore[attr-defined]
        return f"{reason}, retried until the read bound", whole
    if name in ("RefreshError", "TransportError", "DefaultCredentialsError"):
        # google-auth exchanges the key for a token first (at the key's token_uri): unreachable or refused.
        return (
            "no token for the service-account key (check gcs_credentials, and that its token_uri is "
            f"reachable) ({name})",
            True,
        )
    if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "SSLError"):
        return f"the GCS endpoint cannot be reached ({name})", True
    code = getattr(err, "code", None)
    if code == 404:
        return ("the bucket does not exist", True) if what == "listed" else ("no such object", False)
    if code == 401:
        return "the credentials are refused (check gcs_credentials)", True
    if code == 403:
        return "access denied (check gcs_credentials)", False
    return name, False


def _azure_failure(store: Store, err: Exception, what: str, key: str) -> StoreError:
    """A one-line failure from an Azure SDK error: its error code (or class), never its message."""
    code = str(getattr(err, "error_code", None) or type(err).__name__)
    reasons = {
        "ServiceRequestError": "the Azure endpoint cannot be reached (check AZURE_STORAGE_CONNECTION_STRING)",
        "ClientAuthenticationError": "the account key is refused (check AZURE_STORAGE_CONNECTION_STRING)",
        "AuthenticationFailed": "the account key is refused (check AZURE_STORAGE_CONNECTION_STRING)",
        "InvalidAuthenticationInfo": "the account key is refused (check AZURE_STORAGE_CONNECTION_STRING)",
        "AzureSigningError": "the account key cannot sign (check AZURE_STORAGE_CONNECTION_STRING)",
        "ContainerNotFound": "the container does not exist",
        "ShareNotFound": "the share does not exist",
    }
    if code in reasons:
        return StoreError(f"{store.store} cannot be read: {code}: {reasons[code]}", store=store.store)
    return StoreError(f"{store.child(key)} cannot be {what}: {code}")


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None
