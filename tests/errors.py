"""How tests read an AWS error a boto3 call raised."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def error_of(excinfo) -> tuple[str, str]:
    """(Code, Message) of the ClientError caught by `pytest.raises(ClientError)`."""
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def error_and_status(excinfo) -> tuple[str, str, int]:
    """(Code, Message, HTTP status) of the ClientError caught by `pytest.raises`."""
    response = excinfo.value.response
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


def error(call, **kwargs) -> dict:
    """Call, expect a ClientError, return its Error dict."""
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return exc.value.response["Error"]
