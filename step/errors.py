"""Failure classes of the workflow step, one per exit path, so `__main__` maps each to its exit code."""

from __future__ import annotations


class StepError(Exception):
    """Base of the step's own failures; the message is one line meant for the workflow log."""

    exit_code = 1


class StepInputError(StepError, ValueError):
    """A step input or the workflow context is missing or invalid; nothing was deployed."""

    exit_code = 2


class StepSetupError(StepError):
    """The container is not set up to deploy (backend, passphrase, Pulumi CLI or plugin missing)."""

    exit_code = 2


class StackLockedError(StepError):
    """Another update held the stack's lock for longer than the step is allowed to wait."""

    exit_code = 1


class DeployError(StepError):
    """The Pulumi engine ran and failed; its streamed output above says why."""

    exit_code = 1
