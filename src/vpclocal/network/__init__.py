"""The network model and the reachability engine (layer 4).

    from vpclocal.network import Engine, analyze
    engine = Engine(topology)                       # index once
    a = engine.analyze("eni-…", "198.51.100.7", "tcp", 443)
    a.reachable, a.forward, a.return_, a.explanations, a.fixes, a.to_dict()
"""

from .engine import Engine, analyze, analyze_any
from .flows import UnknownComponentError
from .topology import Topology
from .types import Analysis, AnyAnalysis, Explanation, Fix, Hop

__all__ = [
    "Analysis",
    "AnyAnalysis",
    "Engine",
    "Explanation",
    "Fix",
    "Hop",
    "Topology",
    "UnknownComponentError",
    "analyze",
    "analyze_any",
]
