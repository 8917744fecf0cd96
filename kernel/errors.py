"""The error types every entry point raises: configuration mistakes, and the step's exit paths.

Why here: `pulumi up`, the step, the converter and the review report mistakes in one shape (one line per
mistake, naming the key and what is allowed) and exit with the same codes for the same kind of failure.
"""

from __future__ import annotations

from typing import Any

from kernel.credentials import looks_secret
from kernel.names import NAMESPACE
from kernel.redact import without_credentials


def printable(text: str) -> str:
    """Text with its unprintable characters escaped: a key the user wrote may hold a line separator
    (\x1c, \u2028, ...), and each mistake must stay one line of the report."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


#: How much of a value is masked before it is cut to what a mistake shows: enough to cover the 120 shown
#: characters and any credential reaching past them, little enough that masking a 1 MB value stays cheap.
_MASKED_PREFIX = 2000


def shown(key: str, value: Any) -> str:
    """A value as a mistake shows it: cut to 120 chars, with URLs' user info and credential-shaped text
    (`token=...`, `"password": ...`, a bearer value: the shared redactor's shapes) masked, and not at all
    under a key that names a credential (a secret written under a wrong key is still a secret)."""
    if value is None:
        return "nothing"
    if looks_secret(key):
        return repr("<hidden>")
    return masked(repr(value))


def masked(text: str) -> str:
    """Text a mistake quotes (a value, the app it is about), with credentials masked, cut to 120 chars."""
    text = without_credentials(text[:_MASKED_PREFIX])
    return text if len(text) <= 120 else text[:117] + "..."


class ConfigError(ValueError):
    """A stack setting is missing or invalid; the message names the setting, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, *, context: str = "") -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        where = f"{NAMESPACE}:{printable(key)}" + (f" ({printable(masked(context))})" if context else "")
        super().__init__(f"{where}: got {shown(key, value)}; allowed: {printable(allowed)}")

    @property
    def errors(self) -> list[ConfigError]:
        """The mistakes this error reports: itself (ConfigErrors holds several)."""
        return [self]


class ConfigErrors(ConfigError):
    """Every mistake of a stack at once: one line per mistake, each in ConfigError's shape.

    `key`, `value` and `allowed` are the first mistake's, so a caller that reads one error still can.
    """

    def __init__(self, errors: list[ConfigError]) -> None:
        self._errors = list(errors)
        first = self._errors[0]
        self.key, self.value, self.allowed = first.key, first.value, first.allowed
        ValueError.__init__(self, "\n".join(str(error) for error in self._errors))

    @property
    def errors(self) -> list[ConfigError]:
        return list(self._errors)


def raise_all(errors: list[ConfigError]) -> None:
    """Raise the mistakes found, if any: one as itself, several as one ConfigErrors."""
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)


class StepError(Exception):
    """Base of a workflow step's own failures (the predictor step, the converter); the message is one line
    meant for the workflow log, and `exit_code` is what the step exits with."""

    exit_code = 1


class StepInputError(StepError, ValueError):
    """A step input or the workflow context is missing or invalid; nothing was deployed or written."""

    exit_code = 2


class StepSetupError(StepError):
    """The container is not set up to run the step (backend, passphrase, Pulumi CLI or plugin missing)."""

    exit_code = 2


class StackLockedError(StepError):
    """Another update held the stack's lock for longer than the step is allowed to wait."""

    exit_code = 1


class DeployError(StepError):
    """The Pulumi engine ran and failed; its streamed output above says why."""

    exit_code = 1
