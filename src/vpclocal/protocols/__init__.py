"""One parser + serializer per AWS wire protocol, chosen by the service model's protocol."""

from vpclocal.protocols.base import HttpRequest, HttpResponse, Protocol
from vpclocal.protocols.cbor import CborProtocol
from vpclocal.protocols.json_rpc import JsonProtocol
from vpclocal.protocols.query import Ec2Protocol, QueryProtocol
from vpclocal.protocols.rest_json import RestJsonProtocol
from vpclocal.protocols.rest_xml import RestXmlProtocol

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (Ec2Protocol(), QueryProtocol(), JsonProtocol(), RestJsonProtocol(), CborProtocol(),
              RestXmlProtocol())
}

__all__ = ["PROTOCOLS", "HttpRequest", "HttpResponse", "Protocol"]
