"""Pages of a sorted list for the APIs whose NextToken is opaque: the token says after which
key the next page starts (base64 of JSON), so a page stays right while items come and go."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from vpclocal.errors import ServiceError


def page(items: list, key: Callable[[dict], str], token: str | None, limit: int,
         invalid: Callable[[], ServiceError]) -> tuple[list, str | None]:
    """The items (sorted by `key`) after the key a previous page's token names, at most
    `limit` of them, and the token of the next page (None: this is the last). A token this
    function did not make raises `invalid()`, the service's own error."""
    if token:
        try:
            after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        except (ValueError, KeyError, TypeError):
            after = None
        if not isinstance(after, str):
            raise invalid()
        items = [item for item in items if key(item) > after]
    shown = items[:limit]
    if len(items) <= limit:
        return shown, None
    last = json.dumps({"after": key(shown[-1])}).encode()
    return shown, base64.urlsafe_b64encode(last).decode()
