"""The one failure class of `modelstore`, so callers (the Pulumi program, the converter) catch one thing."""

from __future__ import annotations


class StoreError(Exception):
    """A model store cannot be read or written, or a model's format cannot be told; one line for the user.

    The message never holds a credential: store clients' own messages are reduced to their error codes.
    `store` names the store (scheme://bucket, and its endpoint) when the failure is the whole store's (it
    cannot be reached, the bucket does not exist, the credentials are refused, no answer in time) rather
    than one model folder's: reading the store's other folders would fail the same way, so callers report
    it once for the store. `timed_out`: the store did not answer within its time bound.
    """

    def __init__(self, message: str, *, store: str | None = None, timed_out: bool = False) -> None:
        super().__init__(message)
        self.store, self.timed_out = store, timed_out
