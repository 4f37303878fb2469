"""The API's JSON parser: DRF's, with hostile bodies refused as 400 instead of a 500."""

from __future__ import annotations

import codecs
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json


class JSONNumber(float):
    """A JSON number with a fraction or an exponent: a float that remembers the literal the
    client wrote, so an amount field can refuse ``1E-2`` or ``1e2`` while every other field
    sees an ordinary float."""

    literal: str

    def __new__(cls, literal: str) -> JSONNumber:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested too deeply for Python's decoder (``RecursionError``,
    which DRF does not catch) is a 400 ``malformed_request`` like any other bad JSON.
    Non-integer numbers are read as :class:`JSONNumber`."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            parse_constant = json.strict_constant if self.strict else None
            return json.loads(
                decoded_stream.read(), parse_constant=parse_constant, parse_float=JSONNumber
            )
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
