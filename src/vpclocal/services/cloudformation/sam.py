"""`Transform: AWS::Serverless-2016-10-31`: expanded by AWS's own SAM translator."""

from __future__ import annotations

import copy
import threading

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from vpclocal.errors import ServiceError
from vpclocal.services.iam.policies import aws_managed

SAM = "AWS::Serverless-2016-10-31"
_LOCK = threading.Lock()  # the translator keeps the region in a class attribute


def transforms(doc: dict) -> list[str]:
    value = doc.get("Transform")
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def expand(doc: dict, parameters: dict, region: str) -> dict:
    """The processed template; ValidationError with the translator's own message."""
    names = transforms(doc)
    unknown = [n for n in names if n != SAM]
    if unknown:
        raise ServiceError(f"Template format error: Unsupported transform: {unknown[0]}",
                           code="ValidationError")
    if not names:
        return doc
    policies = {p["PolicyName"]: arn for arn, p in aws_managed().items()}
    with _LOCK:
        translator = Translator(None, Parser(),
                                boto_session=boto3.session.Session(region_name=region))
        try:
            out = translator.translate(copy.deepcopy(doc), parameter_values=dict(parameters),
                                       get_managed_policy_map=lambda: policies)
        except InvalidDocumentException as exc:
            causes = " ".join(str(c.message) for c in exc.causes)
            raise ServiceError(f"Transform {SAM} failed with: Invalid Serverless Application "
                               f"Specification document. Number of errors found: "
                               f"{len(exc.causes)}. {causes}", code="ValidationError") from None
        except Exception as exc:  # noqa: BLE001 - any translator failure is the template's
            raise ServiceError(f"Transform {SAM} failed with: {exc}",
                               code="ValidationError") from None
    return out
