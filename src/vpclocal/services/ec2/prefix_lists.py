"""Prefix lists: named sets of CIDRs (the AWS-managed ones of gateway-endpoint services)."""

from __future__ import annotations

from vpclocal.services.ec2.common import get
from vpclocal.services.ec2.query import describe, paginate

PREFIX_LIST_FILTERS = {"prefix-list-id": "PrefixListId", "prefix-list-name": "PrefixListName"}
MANAGED_FILTERS = dict(PREFIX_LIST_FILTERS, **{"owner-id": "OwnerId"})


class PrefixListOperations:
    def describe_prefix_lists(self, ctx, p):
        """The older view: only AWS-managed lists, each with its CIDRs."""
        lists, token = describe(ctx.tx, "prefix_lists", p, ids_param="PrefixListIds",
                                filters=PREFIX_LIST_FILTERS,
                                visible=lambda r: r["OwnerId"] == "AWS")
        return {"PrefixLists": [{"PrefixListId": r["PrefixListId"],
                                 "PrefixListName": r["PrefixListName"],
                                 "Cidrs": [e["Cidr"] for e in r["Entries"]]} for r in lists],
                "NextToken": token}

    def describe_managed_prefix_lists(self, ctx, p):
        lists, token = describe(ctx.tx, "prefix_lists", p, ids_param="PrefixListIds",
                                filters=MANAGED_FILTERS)
        return {"PrefixLists": lists, "NextToken": token}

    def get_managed_prefix_list_entries(self, ctx, p):
        record = get(ctx.tx, "prefix_lists", p["PrefixListId"])
        entries, token = paginate(list(record["Entries"]), p, key=lambda e: e["Cidr"])
        return {"Entries": entries, "NextToken": token}
