"""STS: the caller's identity and temporary credentials for IAM roles."""

from vpclocal.services.sts.sessions import caller_arn, session_for

__all__ = ["caller_arn", "session_for"]
