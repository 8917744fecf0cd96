"""Application and stack names for a workflow run, stable across runs so each run updates one server.

Rules (they replace the original step's random fallback, which created a new server on every run):

* `FUSEML_APP_NAME`, when set, wins; it must already be a valid name (it is never rewritten, so two
  different inputs cannot land on one server).
* Otherwise, with a codeset, the working directory holds `.fuseml/_org` and `.fuseml/_project` and the
  name is `<org>-<project>-<workflow>`.
* Otherwise the step refuses. A name from the model URL's hash is not stable (MLflow puts the run id in the
  model URL, so every training run would get its own server again), and the workflow name alone would
  make unrelated runs of a generic workflow (one that takes the model URL as an input) silently replace
  each other's server. An explicit `app_name` input is the only sound identity left.

Every name is normalised to a DNS label of at most 48 characters, so that `ovms-<app>` fits the 53 of a
Helm release name (the operator installs each server as one); a longer name is cut and given a short hash
of the full name, so two long names stay distinct and the same input always yields the same name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from components.config import MAX_APP_NAME
from kernel.errors import StepInputError, masked
from kernel.redact import without_credentials

# MAX_APP_NAME comes from the core (Helm's 53 minus `ovms-`), so the step and the core can never disagree.
HASH_LENGTH = 8

_INVALID = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def normalise(name: str) -> str:
    """Turn any text into a DNS label of at most MAX_APP_NAME chars; stable, so reruns find their stack."""
    label = _DASHES.sub("-", _INVALID.sub("-", name.strip().lower())).strip("-")
    if len(label) <= MAX_APP_NAME:
        return label
    # The hash is of the full normalised name, so names sharing a long prefix still differ.
    digest = hashlib.sha256(label.encode()).hexdigest()[:HASH_LENGTH]
    head = label[: MAX_APP_NAME - HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def codeset_identity(workdir: Path) -> tuple[str, str] | None:
    """The (org, project) of the input codeset, or None when the step got no codeset."""
    meta = workdir / ".fuseml"
    org_file, project_file = meta / "_org", meta / "_project"
    if not org_file.is_file() or not project_file.is_file():
        return None
    try:
        org, project = (f.read_text(encoding="utf-8").strip() for f in (org_file, project_file))
    except (OSError, UnicodeDecodeError) as err:
        raise StepInputError(
            f"codeset metadata in {meta} is unreadable ({type(err).__name__}): expected the org and project "
            "names as UTF-8 text"
        ) from None
    if not org or not project:
        raise StepInputError(f"codeset metadata in {meta} is empty: expected the org and project names")
    return org, project


def app_name(env: Mapping[str, str], workdir: Path) -> str:
    """The application name for this run, by the rules in the module docstring."""
    explicit = env.get("FUSEML_APP_NAME", "").strip()
    if explicit:
        name = _checked(normalise(explicit), "FUSEML_APP_NAME", explicit)
        if name != explicit:
            # Rewriting it would let two different inputs (My_App, my-app) land on one server. The example
            # is made from the input with its credential shapes masked: normalised, a pasted token would
            # be shown in a form no redactor recognises.
            example = normalise(without_credentials(explicit))
            raise StepInputError(
                f"FUSEML_APP_NAME: got {masked(repr(explicit))}; allowed: lowercase letters, digits and '-', "
                f"starting and ending alphanumeric, at most {MAX_APP_NAME} chars (e.g. {example!r})"
            )
        return name
    identity = codeset_identity(workdir)
    if identity is None:
        raise StepInputError(
            "FUSEML_APP_NAME: no application name: set the step input app_name, or give the step a codeset "
            "input (the name is then <org>-<project>-<workflow>); a random name makes a new server on every "
            "run"
        )
    workflow = env.get("FUSEML_ENV_WORKFLOW_NAME", "").strip()
    if not workflow:
        raise StepInputError("FUSEML_ENV_WORKFLOW_NAME is not set: FuseML sets it for every workflow step")
    derived = "-".join((*identity, workflow))
    return _checked(normalise(derived), "the codeset and workflow names", derived)


def stack_name(app: str) -> str:
    """One stack per application: the app name is already a valid, stable stack name."""
    return app


def _checked(label: str, source: str, original: str) -> str:
    if not label:
        raise StepInputError(f"{source} {original!r} has no letters or digits to make an application name of")
    return label
