"""The base of every config object: unknown keys refused, blanks never silently defaulted, defaults read
back from the fields in the form a user writes them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from components.config.errors import Refusal
from components.config.readers import _mapping, _unset


class Required:
    """Marks a required field with what a user must give for it (shown when it is missing)."""

    def __init__(self, allowed: str) -> None:
        self.allowed = allowed


class Settings(BaseModel):
    """A config object: unknown keys refused, and a blank the user wrote never replaced by a default.

    Leaving a key out (or null) is how to take a default; `""` for a key with a default is a mistake,
    except where BLANK_IS_UNSET (FuseML passes every step input, `""` when the workflow leaves it out).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    BLANK_IS_UNSET: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _object(cls, value: Any) -> dict[str, Any]:
        mapping = {} if _unset(value) else _mapping(value, "an object {" + ", ".join(cls.model_fields) + "}")
        kept = {}
        for name, given in mapping.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if (
                field is not None
                and _unset(given)
                and (given is None or cls.BLANK_IS_UNSET or field.is_required() or field.default is None)
            ):
                continue
            kept[name] = given
        return kept

    def updated(self, changes: dict[str, Any]) -> Any:
        """A copy with these values resolved (a default applied, a fallback read), that still tells which
        keys the user wrote: `model_fields_set` is what later checks ask."""
        copy = self.model_copy(update=changes)
        object.__setattr__(copy, "__pydantic_fields_set__", set(self.model_fields_set))
        return copy

    @field_validator("*", mode="before")
    @classmethod
    def _no_blank(cls, value: Any, info: ValidationInfo) -> Any:
        default = cls.model_fields[info.field_name].default
        if isinstance(value, str) and not value.strip() and default != "":
            shown = default.model_dump() if isinstance(default, BaseModel) else default
            raise Refusal(value, f"a value, or no {info.field_name} key at all for the default {shown!r}")
        return value


def section() -> Any:
    """A section's field on its parent: left out means all of its defaults, still validated (so a required
    key inside it is reported as missing)."""
    return Field(default_factory=dict, validate_default=True)


def defaults(cls: type[Settings]) -> dict[str, Any]:
    """The defaults of a config object as a user would write them (required keys left out)."""
    found = {}
    for name, field in cls.model_fields.items():
        if field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        section = settings_in(field.annotation)
        if section is not None and default == {}:
            found[name] = defaults(section)
        else:
            found[name] = json.loads(json.dumps(default, default=lambda m: m.model_dump(mode="json")))
    return found


def settings_in(annotation: Any) -> type[Settings] | None:
    """The Settings class an annotation holds (directly, or as the items of a list or tuple)."""
    if isinstance(annotation, type) and issubclass(annotation, Settings):
        return annotation
    if get_origin(annotation) in (Annotated, list, tuple, Union) or get_args(annotation):
        for arg in get_args(annotation):
            found = settings_in(arg)
            if found is not None:
                return found
    return None
