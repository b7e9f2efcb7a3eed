"""A JSON boolean is never a number: every numeric field of the command catalogue's parameters (and of every
``Strict`` record) refuses ``true`` (pydantic's lax mode read it as 1; schemathesis found ``frozen_s: true``
accepted by ``POST /api/commands/batch``)."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.cctv import CameraConfig
from shared.commands import CATALOGUE
from shared.messages.base import Strict, _takes_numbers_only


def nested(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for info in model.model_fields.values():
        for arg in (*typing.get_args(info.annotation), info.annotation):
            for inner in (*typing.get_args(arg), arg):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    nested(inner, seen)


def numeric_fields() -> list[tuple[type[BaseModel], str]]:
    seen: set[type[BaseModel]] = set()
    for spec in CATALOGUE.values():
        params = getattr(spec, "params", None)
        if isinstance(params, type) and issubclass(params, BaseModel):
            nested(params, seen)
    return sorted(((m, name) for m in seen if issubclass(m, Strict) for name, info in m.model_fields.items()
                   if _takes_numbers_only(info.annotation)), key=lambda p: (p[0].__name__, p[1]))  # fmt: skip


FIELDS = numeric_fields()


def test_the_catalogue_has_numeric_fields_to_check() -> None:
    assert len(FIELDS) > 20
    assert (CameraConfig, "frozen_s") in FIELDS


@pytest.mark.parametrize(("model", "field"), FIELDS, ids=[f"{m.__name__}.{f}" for m, f in FIELDS])
def test_a_boolean_is_refused_where_a_number_is_expected(model: type[BaseModel], field: str) -> None:
    with pytest.raises(ValidationError, match="a number is expected, not a boolean"):
        model.model_validate_json(json.dumps({field: True}))


def test_numbers_and_the_fields_that_take_booleans_are_unchanged() -> None:
    config = CameraConfig.model_validate_json('{"camera_id": "X", "source": 0, "frozen_s": 2, "record": true}')
    assert (config.frozen_s, config.record, config.source) == (2.0, True, 0)
    assert not _takes_numbers_only(bool) and not _takes_numbers_only(Any) and not _takes_numbers_only(int | bool)
    assert _takes_numbers_only(float | None) and _takes_numbers_only(typing.Annotated[int, "x"])
