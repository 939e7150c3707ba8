"""AWS-style identifiers."""

from __future__ import annotations

import secrets
import uuid


def resource_id(prefix: str, length: int = 17) -> str:
    """`vpc-0a1b2c3d4e5f67890`: a prefix and 17 lowercase hex digits, as EC2 issues them."""
    return f"{prefix}-{secrets.token_hex((length + 1) // 2)[:length]}"


def request_id() -> str:
    return str(uuid.uuid4())
