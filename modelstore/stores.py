"""Model stores by URL scheme: list, read, download and publish files below one folder URL.

A store is rooted at the URL it was opened with; keys are '/'-separated paths relative to that root.
Publishing writes a folder under a staging name first and moves it into place only once every file is
there, so a failed run leaves no half-written version where a server would load it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

#: Staging folders start with a dot and hold no digit-only name, so OVMS, which loads only numeric
#: version folders, never picks one up (OVMS docs, "Preparing a Model Repository").
STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class StoreSettings:
    """How to reach the stores: credentials (keys of CREDENTIAL_KEYS), the S3 endpoint and region."""

    credentials: Mapping[str, str]
    endpoint: str | None = None
    region: str | None = None


def credentials_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The credentials the environment gives, keyed as CREDENTIAL_KEYS; a missing one is left out."""
    found = {key: env[name] for key, name in CREDENTIAL_ENV.items() if env.get(name, "").strip()}
    path = env.get(GCS_CREDENTIALS_ENV, "").strip()
    if path:
        try:
            found["gcs_credentials"] = Path(path).read_text()
        except OSError as err:
            raise StoreError(f"{GCS_CREDENTIALS_ENV}={path!r} cannot be read: {err.strerror}") from None
    return found


def settings_from_env(env: Mapping[str, str]) -> StoreSettings:
    """Credentials, endpoint and region from the environment variables a FuseML step receives."""
    return StoreSettings(
        credentials=credentials_from_env(env),
        endpoint=_first(env, ENDPOINT_ENV),
        region=_first(env, REGION_ENV),
    )


class Store:
    """Files below one folder URL. Subclasses implement the five primitives; publishing is built on them."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

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

    def __init__(self, url: str, bucket: str, prefix: str, settings: StoreSettings) -> None:
        super().__init__(url)
        self.bucket, self.prefix, self.endpoint = bucket, prefix.strip("/"), settings.endpoint
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StoreError(f"{url}: reading s3:// needs boto3 (pip install boto3)") from None
        creds = settings.credentials
        # Path-style addressing: MinIO and most S3-compatible servers have no per-bucket DNS names.
        # Short timeouts and few retries, so an unreachable endpoint fails in seconds, not minutes.
        config = Config(
            s3={"addressing_style": "path"} if settings.endpoint else {},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint or None,
            region_name=settings.region or "us-east-1",
            aws_access_key_id=creds.get("aws_access_key_id") or None,
            aws_secret_access_key=creds.get("aws_secret_access_key") or None,
            config=config,
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        return StoreError(f"{self.child(key)} cannot be {what}: {_s3_reason(err, self.endpoint)}")

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
    """A Google Cloud Storage bucket prefix, through google-cloud-storage (imported only here)."""

    def __init__(self, url: str, bucket: str, prefix: str, settings: StoreSettings) -> None:
        super().__init__(url)
        self.prefix = prefix.strip("/")
        try:
            from google.cloud import storage
            from google.oauth2 import service_account
        except ImportError:
            raise StoreError(f"{url}: reading gs:// needs google-cloud-storage (pip install it)") from None
        info = settings.credentials.get("gcs_credentials")
        try:
            if info:
                import json

                creds = service_account.Credentials.from_service_account_info(json.loads(info))
                client = storage.Client(project=creds.project_id, credentials=creds)
            else:
                # No key: the machine's own identity (GKE workload identity), else anonymous (public data).
                try:
                    client = storage.Client()
                except Exception:
                    client = storage.Client.create_anonymous_client()
        except ValueError:
            raise StoreError(f"{url}: the GCS credentials are not a service account key (JSON)") from None
        self.bucket = client.bucket(bucket)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        return StoreError(f"{self.child(key)} cannot be {what}: {type(err).__name__}")

    def list(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        try:
            names = [blob.name[len(base) :] for blob in self.bucket.list_blobs(prefix=base)]
        except Exception as err:
            raise self._fail(err, "listed") from None
        return sorted(name for name in names if name and not name.endswith("/"))

    def read(self, key: str) -> bytes:
        try:
            return self.bucket.blob(self._key(key)).download_as_bytes()
        except Exception as err:
            raise self._fail(err, "read", key) from None

    def write(self, key: str, source: Path) -> None:
        try:
            self.bucket.blob(self._key(key)).upload_from_filename(str(source))
        except Exception as err:
            raise self._fail(err, "written", key) from None

    def copy(self, src: str, dst: str) -> None:
        try:
            self.bucket.copy_blob(self.bucket.blob(self._key(src)), self.bucket, self._key(dst))
        except Exception as err:
            raise self._fail(err, "written", dst) from None

    def delete(self, key: str) -> None:
        try:
            self.bucket.blob(self._key(key)).delete()
        except Exception as err:
            raise self._fail(err, "deleted", key) from None


class AzureBlobStore(Store):
    """An Azure Blob Storage container prefix (az://container/path), through azure-storage-blob."""

    def __init__(self, url: str, container: str, prefix: str, settings: StoreSettings) -> None:
        super().__init__(url)
        self.prefix = prefix.strip("/")
        try:
            from azure.storage.blob import ContainerClient
        except ImportError:
            raise StoreError(f"{url}: reading az:// needs azure-storage-blob (pip install it)") from None
        conn = settings.credentials.get("azure_storage_connection_string")
        if not conn:
            raise StoreError(f"{url}: reading az:// needs AZURE_STORAGE_CONNECTION_STRING") from None
        try:
            self.container = ContainerClient.from_connection_string(conn, container)
        except ValueError:
            raise StoreError(f"{url}: AZURE_STORAGE_CONNECTION_STRING is not a connection string") from None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        code = getattr(err, "error_code", None) or type(err).__name__
        return StoreError(f"{self.child(key)} cannot be {what}: {code}")

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

    def __init__(self, url: str, share: str, prefix: str, settings: StoreSettings) -> None:
        super().__init__(url)
        self.prefix = prefix.strip("/")
        try:
            from azure.storage.fileshare import ShareClient
        except ImportError:
            raise StoreError(
                f"{url}: reading azfs:// needs azure-storage-file-share (pip install it)"
            ) from None
        conn = settings.credentials.get("azure_storage_connection_string")
        if not conn:
            raise StoreError(f"{url}: reading azfs:// needs AZURE_STORAGE_CONNECTION_STRING") from None
        try:
            self.share = ShareClient.from_connection_string(conn, share)
        except ValueError:
            raise StoreError(f"{url}: AZURE_STORAGE_CONNECTION_STRING is not a connection string") from None

    def _fail(self, err: Exception, what: str, key: str = "") -> StoreError:
        code = getattr(err, "error_code", None) or type(err).__name__
        return StoreError(f"{self.child(key)} cannot be {what}: {code}")

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


def open_store(url: str, settings: StoreSettings | None = None) -> Store:
    """The store rooted at url; nothing is contacted yet, except to build a client."""
    settings = settings or StoreSettings(credentials={})
    scheme, bucket, prefix = split_url(url)
    url = url.strip().rstrip("/") or "/"
    if scheme == "":
        return LocalStore(prefix)
    classes: dict[str, Any] = {"s3": S3Store, "gs": GCSStore, "az": AzureBlobStore, "azfs": AzureFileStore}
    return classes[scheme](url, bucket, prefix, settings)


def _s3_reason(err: Exception, endpoint: str | None) -> str:
    """A one-line reason from a boto3 failure: the S3 error code, never the request (it has signatures)."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode"
        )
        hints = {
            "NoSuchBucket": "the bucket does not exist",
            "NoSuchKey": "no such object",
            "404": "no such object",
            "AccessDenied": "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            "403": "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            "InvalidAccessKeyId": "the access key is not known to the store (check AWS_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch": "the secret key is wrong (check AWS_SECRET_ACCESS_KEY)",
        }
        return f"{code}: {hints[str(code)]}" if str(code) in hints else str(code)
    name = type(err).__name__
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        return f"the S3 endpoint {endpoint or 'of AWS'} cannot be reached (check S3_ENDPOINT)"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    return name


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None
