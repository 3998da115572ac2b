"""Reading a reference YAML file into frozen typed records, with the project's one-line located errors.

Records are pydantic dataclasses: pydantic checks the types, and a validator on the record keeps the rules that
span fields (unique ids, weights that add up). The first fault becomes a ReferenceDataError naming the file and the
place in it, written as in the file: `models[1].aliases[0]`, `metrics.casi.min`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import yaml
from pydantic import (
    AliasPath,
    BeforeValidator,
    ConfigDict,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails, PydanticCustomError

from casi_pipeline.errors import ReferenceDataError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

R = TypeVar("R")

# Frozen. validate_by_name lets code build a record whose fields are read from nested sections of the file
# (validation_alias=AliasPath(...)) by their field names. A field's docstring documents it here only: pydantic's
# use_attribute_docstrings would copy it into the schema, which nothing reads, and finds the source through
# inspect.getmodule, which walks every loaded module (about 0.1 s of each start of the command).
record = dataclass(frozen=True, config=ConfigDict(validate_by_name=True))


@record
class Record:
    """Base of every record in a reference file."""

    if TYPE_CHECKING:  # set by @record (pydantic.dataclasses), which mypy does not see into
        __pydantic_fields__: ClassVar[dict[str, FieldInfo]]

    @model_validator(mode="before")
    @classmethod
    def _left_out_is_null(cls, data: Any) -> Any:
        """A field left out of the file is checked as null, so it is reported as such (`expected str, got None`).
        A field read from a section (`rtp.security_weight`) is left out only when its section is a mapping."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, field in cls.__pydantic_fields__.items():
            if not field.is_required():
                continue
            *sections, key = field.validation_alias.path if isinstance(field.validation_alias, AliasPath) else [name]
            mapping = data
            for section in sections:
                if not isinstance(mapping.get(section), dict):
                    break
                mapping[section] = dict(mapping[section])  # a copy: the data passed in stays as it is
                mapping = mapping[section]
            else:
                mapping.setdefault(key, None)
        return data


def invalid(what: str, *at: str | int) -> PydanticCustomError:
    """A fault to raise from a validator; `at` is its place below the value validated (a field, an index)."""
    return PydanticCustomError("reference", "{what}", {"what": what, "at": at})


def error_message(template: str, *, every_fault: bool = False) -> WrapValidator:
    """Report a value of the wrong type or size as `template`, formatted with `value`. A fault inside the value (in
    an entry of a list) keeps its own place and message; with `every_fault` it too is reported as the value's."""

    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            if every_fault or all(not fault["loc"] for fault in error.errors()):
                raise invalid(template.format(value=value)) from None
            raise

    return WrapValidator(validate)


Text = Annotated[str, Strict(), StringConstraints(pattern=r"\S"), error_message("expected str, got {value!r}")]
Flag = Annotated[bool, Strict(), error_message("expected bool, got {value!r}")]
Integer = Annotated[int, Strict(), error_message("expected int, got {value!r}")]
# An int stays an int: messages echo the file (`got -1`), and bounds keep their form in suites (`0..100`).
Number = Annotated[
    Annotated[int, Strict()] | Annotated[float, Strict()],
    error_message("expected a number, got {value!r}", every_fault=True),
]
# Stored rows record a file's version; YAML may write it as a number or as text.
Version = Annotated[str, BeforeValidator(str)]
VersionNumber = Annotated[int, error_message("expected int, got {value!r}")]
# Other spellings of a name; null or left out means none.
Aliases = Annotated[tuple[Text, ...], BeforeValidator(lambda names: names or ())]


def _place(loc: tuple[str | int, ...], data: Any) -> str:
    """`('models', 1, 'aliases', 0)` -> `models[1].aliases[0]`: an index into a list in brackets, a key of a
    mapping after a dot (`security.severity_weight.5`)."""
    text, node = "", data
    for part in loc:
        if isinstance(node, list):
            assert isinstance(part, int)  # pydantic places an entry of a list by its index
            text, node = f"{text}[{part}]", node[part]
        else:
            text, node = f"{text}.{part}", node.get(part) if isinstance(node, dict) else None
    return text.lstrip(".") or "top level"


def load(path: Path, kind: type[R]) -> R:
    """The file at `path` as a `kind` record, or a ReferenceDataError naming the file and its first fault."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReferenceDataError(str(path), "yaml", str(exc).replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise ReferenceDataError(str(path), "top level", "expected a mapping")
    if "version" not in data:
        raise ReferenceDataError(str(path), "version", "missing")
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as error:
        raise _located(path, data, error.errors()[0]) from error


def _located(path: Path, data: dict, fault: ErrorDetails) -> ReferenceDataError:
    loc, context = fault["loc"], fault.get("ctx", {})
    if fault["type"] == "reference":
        where, what = loc + context["at"], context["what"]
    elif fault["type"] == "missing":  # the section a field is read from is not a mapping
        where, what = loc[:-1], "expected a mapping"
    elif fault["type"] == "dataclass_type":  # an entry that is not a mapping
        where, what = loc, "expected a mapping"
    else:
        where, what = loc, fault["msg"]
    return ReferenceDataError(str(path), _place(where, data), what)
