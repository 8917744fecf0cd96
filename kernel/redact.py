"""The one redactor: masks known secret values, credential-shaped text and URL user info in what is shown.

Why one: the step prints engine output, the converter its progress, the review its verdicts and written
objects, and the FuseML client its errors and logs; each may echo a secret, and each must mask it the
same way. Each caller only chooses its mask text and which credential shapes to look for.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kernel.credentials import SECRET_ENV_NAMES, without_userinfo

MASK = "[secret]"

#: Lines of a multi-line secret shorter than this are not masked alone: a service account JSON printed
#: line by line must not show its key, but masking every "{" or "}" would only mangle the output.
MIN_LINE_LENGTH = 8

#: Text shaped like a credential whatever its value: a bearer or basic value, and key=value or
#: "key": "value" pairs whose key names a secret, a signed URL's signature among them (S3's
#: X-Amz-Signature, GCS's X-Goog-Signature, an Azure SAS `sig`: each lets its holder read the object). The
#: `keep` group stays before the mask, so a reader still sees which header or key was there. A key is
#: matched from its first character only (`(?<![\w-])`), so a long run such as `a-a-a-...` is scanned
#: once, not once from each of its word boundaries.
TOKEN_LIKE: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)\b(?P<keep>(?:bearer|basic)\s+)[^\s\"',;]+"),
    # key=value, or a quoted "key": value (JSON). An unquoted `KEY: text` is how a step's error line names
    # its variable (`GOOGLE_APPLICATION_CREDENTIALS: the file ...`), not a credential.
    re.compile(
        r"(?i)(?P<keep>(?:(?<![\w-])[\w-]*{key}s?\s*=|[\"'][\w-]*{key}s?[\"']\s*:)\s*[\"']?)[^\s\"',;&}}]+".format(
            key=r"(?:token|password|passwd|secret|authorization|api[_-]?key|credential|signature|sig)"
        )
    ),
)


class Redactor:
    """Replace each known secret (and its base64 form and lines) and each credential-shaped text with a mask.

    Known values match whatever their case (a tool may print a key upper-cased, a header lower-cased);
    where two known values overlap in a text, the whole stretch they cover becomes one mask, so no part of
    the longer one stays visible.
    """

    def __init__(
        self,
        secrets: Iterable[str | None] = (),
        *,
        mask: str = MASK,
        patterns: Iterable[re.Pattern[str]] = (),
        min_length: int = 1,
        lines: bool = True,
        userinfo: bool = False,
    ) -> None:
        """`patterns` are the credential shapes to mask besides the known values; `min_length` is the
        shortest known value masked (shorter ones would mangle text while revealing little); `lines`
        masks each line of a multi-line value alone too, for output that prints a value line by line;
        `userinfo` drops the user and password of every URL in the text (kernel.credentials)."""
        self.mask = mask
        self.patterns = tuple(patterns)
        self.min_length = min_length
        self.lines = lines
        self.userinfo = userinfo
        self._known: dict[str, re.Pattern[str]] = {}
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Learn more secret values (known only once inputs, files or backend settings are read)."""
        for secret in secrets:
            for variant in self._variants(secret or ""):
                if variant not in self._known:
                    self._known[variant] = re.compile(re.escape(variant), re.IGNORECASE)

    def _variants(self, secret: str) -> set[str]:
        """The forms a secret is shown in: as it is, base64 (Kubernetes Secret data), line by line."""
        value = secret.strip()
        if len(value) < self.min_length:
            return set()
        found = {value, base64.b64encode(value.encode()).decode()}
        if self.lines:
            floor = max(MIN_LINE_LENGTH, self.min_length)
            found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= floor)
        return found

    def text(self, text: str) -> str:
        """The text with every known value (any case) and credential-shaped substring masked."""
        if self.userinfo:
            text = without_userinfo(text)
        spans = sorted(match.span() for pattern in self._known.values() for match in pattern.finditer(text))
        if spans:
            merged: list[list[int]] = []
            for start, end in spans:
                if merged and start < merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            pieces, last = [], 0
            for start, end in merged:
                pieces += [text[last:start], self.mask]
                last = end
            text = "".join([*pieces, text[last:]])
        for pattern in self.patterns:
            keep = "keep" in pattern.groupindex
            text = pattern.sub(lambda match, keep=keep: (match["keep"] if keep else "") + self.mask, text)
        return text

    __call__ = text

    def data(self, value: Any) -> Any:
        """A copy of a plain structure (dicts, lists) with every string leaf masked, keys too."""
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return self.text(value) if isinstance(value, str) else value

    def url(self, url: str) -> str:
        """A URL fit to show: its user:password dropped, then masked like any text (token query values)."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra: Iterable[str] = (), **options: Any) -> Redactor:
        """A redactor for the secret environment variables' values, plus extra values (file contents,
        resolved secrets), that also masks credential shapes and URL user info (an entry point echoing an
        input may echo a credential pasted into it); `options` as for the constructor."""
        options = {"patterns": TOKEN_LIKE, "userinfo": True, **options}
        return cls([*(env.get(name, "") for name in SECRET_ENV_NAMES), *extra], **options)


def without_credentials(text: str, mask: str = MASK) -> str:
    """Text a mistake quotes, with what is shaped like a credential masked whatever its value: URL user
    info (with or without a scheme), token-like pairs and bearer values. For an error that echoes an input
    the user may have pasted a credential into (a signed URL in the wrong variable, say)."""
    return Redactor(mask=mask, patterns=TOKEN_LIKE).text(without_userinfo(text))
