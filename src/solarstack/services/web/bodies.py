"""Service layer (web): JSON request bodies, bounded before anything parses them.

The app reads at most `MAX_BODY_BYTES` of any body (413 beyond, whether Content-Length
says so or a chunked body runs over): app.py sets Flask's MAX_CONTENT_LENGTH one byte
above it, because werkzeug cuts a chunked body at that length without an error, and
`json_body` refuses a body that reached it. A JSON
body's nesting is counted before `json.loads` sees it (400 beyond `MAX_JSON_DEPTH`):
Python's parser recurses, and a deep body would otherwise end in a RecursionError — a 500.
The largest real body, a command, is under 200 bytes and one level deep.

This module must not know what a body means or answer HTTP itself.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

MAX_BODY_BYTES = 8192
MAX_JSON_DEPTH = 16


class BodyRefused(ValueError):
    """The body is not JSON, or nested too deep: answered 400 with the message."""


def nesting_depth(text: str, limit: int) -> int:
    """How deeply `[` and `{` nest in `text` (outside strings), counting stops past `limit`."""
    level = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    break
        elif ch in "]}":
            level -= 1
    return deepest


def json_body(request: Request) -> Any:
    """The request's JSON body; BodyRefused if it is not JSON or nested too deep.

    RequestEntityTooLarge (413) for a body over MAX_BODY_BYTES.
    """
    raw = request.get_data(cache=True)  # werkzeug raises 413 itself for a Content-Length too large
    if len(raw) > MAX_BODY_BYTES:  # a chunked body, cut at MAX_CONTENT_LENGTH
        raise RequestEntityTooLarge()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused("the body is not UTF-8 text") from None
    if nesting_depth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BodyRefused(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except ValueError:
        raise BodyRefused("the body is not valid JSON") from None
