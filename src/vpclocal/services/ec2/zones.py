"""Regions and availability zones, as an account sees them."""

from __future__ import annotations

from vpclocal.services.ec2.query import check_filters, matches

_LETTERS = {"us-east-1": "abcdef"}
_WORDS = {"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}


def zone_names(region: str) -> list[str]:
    return [region + letter for letter in _LETTERS.get(region, "abc")]


def zone_id(zone: str) -> str:
    """`us-east-1a` -> `use1-az1`, `ap-southeast-1b` -> `apse1-az2`."""
    region, letter = zone[:-1], zone[-1]
    parts = region.split("-")
    code = parts[0] + "".join(_WORDS.get(p, p[:1]) for p in parts[1:-1]) + parts[-1]
    return f"{code}-az{ord(letter) - ord('a') + 1}"


class ZoneOperations:
    def describe_availability_zones(self, ctx, p):
        names = p.get("ZoneNames") or []
        ids = p.get("ZoneIds") or []
        zones = []
        for name in zone_names(ctx.region):
            zid = zone_id(name)
            if (names and name not in names) or (ids and zid not in ids):
                continue
            zones.append({
                "ZoneName": name, "ZoneId": zid, "State": "available", "RegionName": ctx.region,
                "Messages": [], "OptInStatus": "opt-in-not-required", "GroupName": ctx.region,
                "NetworkBorderGroup": ctx.region, "ZoneType": "availability-zone",
            })
        aliases = {"zone-name": "ZoneName", "zone-id": "ZoneId", "state": "State",
                   "region-name": "RegionName", "zone-type": "ZoneType",
                   "group-name": "GroupName", "opt-in-status": "OptInStatus"}
        flts = p.get("Filters") or []
        check_filters(flts, aliases, set())
        return {"AvailabilityZones": [z for z in zones if matches(z, flts, aliases)]}

    def describe_regions(self, ctx, p):
        regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1",
                   "eu-central-1", "ap-southeast-1", "ap-northeast-1"]
        wanted = p.get("RegionNames") or regions
        return {"Regions": [{"RegionName": r, "Endpoint": f"ec2.{r}.amazonaws.com",
                             "OptInStatus": "opt-in-not-required"}
                            for r in regions if r in wanted]}
