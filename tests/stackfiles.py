"""The shipped stack files as a user has them once the secrets each one's comment asks for are set."""

from __future__ import annotations

from pathlib import Path

import yaml

from offline.plan import stacks

ROOT = Path(__file__).resolve().parents[1]
#: Stand-ins for what `pulumi config set --secret` writes; the planner and the review never decrypt them.
CIPHERTEXTS = ("AAABAReviewCiphertextAccessKeyId0000", "AAABAReviewCiphertextSecretKey000000")
S3_KEYS = ("aws_access_key_id", "aws_secret_access_key")


def configured(stack: str, root: Path) -> Path:
    """Write Pulumi.<stack>.yaml under root with the S3 keys its comment asks for as secure values.

    Shipped stack files hold no ciphertext: the CLI refuses a value it cannot decrypt, so a placeholder
    would break the user's first `pulumi up`.
    """
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    document = yaml.safe_load(text)
    if "--secret fuseml-serving:aws_access_key_id" in text:
        for key, ciphertext in zip(S3_KEYS, CIPHERTEXTS, strict=True):
            document["config"][f"fuseml-serving:{key}"] = {"secure": ciphertext}
    root.mkdir(parents=True, exist_ok=True)
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return root


def shipped() -> list[str]:
    """The shipped stacks, for a test parametrised over them: never empty, since pytest turns an empty
    parameter list into one skipped test, which would pass every such test without checking a stack."""
    found = list(stacks(ROOT))
    if not found:
        raise AssertionError(f"no Pulumi.<stack>.yaml in {ROOT}: no shipped stack to check")
    return found
