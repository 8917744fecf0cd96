"""How the config model refuses: a field reader's Refusal, turned by `parse` into a ConfigError that
names the whole key path (the kernel's error types, shared with the step, the converter and the review)."""

from __future__ import annotations

from typing import Any

from kernel.errors import ConfigError, ConfigErrors, printable, raise_all

__all__ = ["ConfigError", "ConfigErrors", "Refusal", "Refusals", "printable", "raise_all", "raise_refusals"]


class Refusal(ValueError):
    """What a field's reader refuses: the value, what is allowed, and where below the field it sits.

    Readers raise it inside pydantic validation; `parse` turns it, with pydantic's location of the field,
    into a ConfigError naming the whole key path.
    """

    def __init__(self, value: Any, allowed: str, *at: str | int) -> None:
        super().__init__(allowed)
        self.value, self.allowed, self.at = value, allowed, at

    @property
    def refusals(self) -> list[Refusal]:
        return [self]


class Refusals(Refusal):
    """Several independent refusals of one check (a cross-field validator that finds more than one)."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__(refusals[0].value, refusals[0].allowed, *refusals[0].at)
        self._refusals = refusals

    @property
    def refusals(self) -> list[Refusal]:
        return list(self._refusals)


def raise_refusals(refusals: list[Refusal]) -> None:
    """Raise what a check refused, if anything: one as itself, several as one Refusals."""
    if refusals:
        raise refusals[0] if len(refusals) == 1 else Refusals(refusals)
