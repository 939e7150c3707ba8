"""A template made concrete for one stack: the resources its conditions keep, their
dependencies (DependsOn, Ref, Fn::GetAtt, Fn::Sub) and an evaluator over parameter values."""

from __future__ import annotations

from vpclocal.services.cloudformation import intrinsics
from vpclocal.services.cloudformation.intrinsics import Evaluator, format_error
from vpclocal.services.ec2.zones import zone_names


class Plan:
    def __init__(self, doc: dict, values: dict, region: str, account: str, stack_name: str,
                 stack_id: str) -> None:
        self.doc = doc
        self.region = region
        params = dict(values)
        params.update(intrinsics.pseudo_parameters(region, account, stack_name, stack_id))
        everything = doc.get("Resources") or {}
        self.evaluator = Evaluator(params, mappings=doc.get("Mappings") or {},
                                   condition_defs=doc.get("Conditions") or {},
                                   zones=lambda r: zone_names(r), resources=set(everything))
        for name in self.evaluator.condition_defs:
            self.evaluator.condition(name)
        self.resources = {}
        for name, spec in everything.items():
            cond = spec.get("Condition")
            if cond is None or self.evaluator.condition(cond):
                self.resources[name] = spec
        self.evaluator.resources = set(self.resources)
        self.deps = {name: self._dependencies(name, spec, everything)
                     for name, spec in self.resources.items()}
        self.order = self._ordered()

    def _dependencies(self, name: str, spec: dict, everything: dict) -> set[str]:
        explicit = spec.get("DependsOn") or []
        explicit = [explicit] if isinstance(explicit, str) else list(explicit)
        unknown = [d for d in explicit if d not in everything]
        if unknown:
            raise format_error(f"Unresolved resource dependencies [{', '.join(unknown)}] in "
                               "the Resources block of the template")
        found = intrinsics.references(spec.get("Properties") or {}, set(everything))
        return {d for d in [*explicit, *found] if d in self.resources and d != name}

    def _ordered(self) -> list[str]:
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(node, path):
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                cycle = path[path.index(node):]
                raise format_error(f"Circular dependency between resources: "
                                   f"[{', '.join(sorted(set(cycle)))}]")
            state[node] = 1
            for dep in sorted(self.deps[node]):
                visit(dep, [*path, node])
            state[node] = 2
            done.append(node)

        for node in self.resources:
            visit(node, [])
        return done

    def outputs(self) -> dict:
        out = {}
        for key, spec in (self.doc.get("Outputs") or {}).items():
            cond = spec.get("Condition") if isinstance(spec, dict) else None
            if cond is None or self.evaluator.condition(cond):
                out[key] = spec
        return out
