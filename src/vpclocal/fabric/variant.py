"""Which data path the fabric compiles to on this kernel: chosen by probing, or forced.

Kernels differ in what nftables may do in a network namespace owned by a user namespace:
Linux 6.18 refuses every statement that rewrites a header field there (`ip daddr set …`:
"Operation not permitted") while nat-hook translation, marks, conntrack and fib are allowed;
older kernels allow both. The internet gateway's 1:1 NAT is the one part of the plan that
rewrites headers, so it has two forms (compiler.py):

- `rewrite`: stateless, as the internet gateway is: the destination rewritten in the
  router's prerouting, the source in postrouting; TCP stays untracked.
- `conntrack`: the same mapping through nat-hook `dnat to ip daddr map` / `snat to ip saddr
  map`, so the internet gateway's traffic (only it) is tracked; the translation of a
  connection lives in conntrack, so a changed mapping deletes the entries it made
  (reconciler.py).

And the sandbox itself has two forms (sandbox.py): `userns`, its own user namespace (the only
one an ordinary user has), or `root`, namespaces owned by the host's user namespace (the
default when the server is root: there nothing is refused, and the kernel sees each
function's own uid, which guards its Runtime API; in a user namespace that maps only root,
every function's uid looks alike). A root server's `userns` sandbox maps its root to the
host's root anyway, so `root` costs no privilege the agent did not have.

Forcing (CI runs the fabric tests once per variant): VPCLOCAL_FABRIC_SANDBOX=userns|root and
VPCLOCAL_FABRIC_NAT=rewrite|conntrack; unset or `auto` probes. A forced variant the kernel
refuses is an error with the kernel's words, never a silent fallback. VPCLOCAL_FABRIC_PROBE=0
with a forced NAT form skips the probe: the kernel's refusal then comes at apply time, which
is how the fault tests make an apply fail the way a kernel the probe misjudged would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

NATS = ("rewrite", "conntrack")
SANDBOXES = ("userns", "root")

# What the probe asks of nft in a scratch namespace of the sandbox: the rewrite form's
# statements (one is enough: the kernel refuses the whole class or none of it).
REWRITE_PROBE = """table ip probe {
  map m { type ipv4_addr : ipv4_addr; elements = { 192.0.2.1 : 192.0.2.2 } }
  chain c { type filter hook prerouting priority -300; policy accept;
    ip daddr set ip daddr map @m; }
}
"""


class VariantError(ValueError):
    """A forced variant that is unknown, or that this kernel or user cannot have."""


@dataclass(frozen=True)
class Variant:
    sandbox: str = "userns"  # SANDBOXES
    nat: str = "rewrite"  # NATS
    why: str = ""  # how it was chosen, for status

    @property
    def name(self) -> str:
        return f"{self.sandbox}/{self.nat}"


def wanted_sandbox() -> str:
    """The sandbox form asked for (VPCLOCAL_FABRIC_SANDBOX); by default `root` for a server
    that runs as root, `userns` for any other."""
    value = os.environ.get("VPCLOCAL_FABRIC_SANDBOX", "auto").strip().lower() or "auto"
    if value == "auto":
        return "root" if os.geteuid() == 0 else "userns"
    if value not in SANDBOXES:
        raise VariantError(f"VPCLOCAL_FABRIC_SANDBOX={value}: expected one of "
                           f"{', '.join(SANDBOXES)} or auto")
    if value == "root" and os.geteuid() != 0:
        raise VariantError("VPCLOCAL_FABRIC_SANDBOX=root needs the server to run as root")
    return value


def wanted_nat() -> str | None:
    """The NAT form asked for (VPCLOCAL_FABRIC_NAT), None to probe."""
    value = os.environ.get("VPCLOCAL_FABRIC_NAT", "auto").strip().lower() or "auto"
    if value == "auto":
        return None
    if value not in NATS:
        raise VariantError(f"VPCLOCAL_FABRIC_NAT={value}: expected one of "
                           f"{', '.join(NATS)} or auto")
    return value


def unprobed() -> str | None:
    """The forced variant's NAT form, when VPCLOCAL_FABRIC_PROBE=0 says not to probe."""
    forced = wanted_nat()
    if forced is None or os.environ.get("VPCLOCAL_FABRIC_PROBE", "1") != "0":
        return None
    return forced


def choose(sandbox: str, refused: str) -> Variant:
    """The variant for a sandbox form, given what the probe saw (`refused`: the kernel's
    answer to a header rewrite, "" when it allowed it)."""
    forced = wanted_nat()
    if forced == "rewrite" and refused:
        raise VariantError("VPCLOCAL_FABRIC_NAT=rewrite, but this kernel refuses header "
                           f"rewriting in the {sandbox} sandbox: {refused}")
    if forced is not None:
        return Variant(sandbox, forced, f"forced by VPCLOCAL_FABRIC_NAT={forced}")
    if refused:
        return Variant(sandbox, "conntrack", f"the kernel refuses `ip daddr set` in the "
                       f"{sandbox} sandbox ({refused}): nat-hook maps instead")
    return Variant(sandbox, "rewrite", "the kernel allows header rewriting: stateless 1:1 NAT")
