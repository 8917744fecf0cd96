"""The one failure class of `modelstore`, so callers (the Pulumi program, the converter) catch one thing."""

from __future__ import annotations


class StoreError(Exception):
    """A model store cannot be read or written, or a model's format cannot be told; one line for the user.

    The message never holds a credential: store clients' own messages are reduced to their error codes.
    """
