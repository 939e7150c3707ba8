"""An AWS CLI v1 plugin: `aws rds` (and docdb, neptune) follow AWS_ENDPOINT_URL in us-east-1.

AWS CLI v1 points those commands at https://rds.amazonaws.com in us-east-1 whenever
--endpoint-url is not given (awscli/customizations/overridesslcommonname.py), ignoring
AWS_ENDPOINT_URL and `endpoint_url` in the config: the guide's `aws rds create-db-instance`
would go to AWS itself. Enable the plugin in the AWS CLI config file:

    [plugins]
    vpclocal = vpclocal.awscli_plugin
"""

from __future__ import annotations

import os

OVERRIDDEN = "https://rds.amazonaws.com"  # what the CLI substitutes in us-east-1


def awscli_initialize(cli) -> None:
    # user plugins load before the CLI's own handlers: act on a later event than the override
    # (before-building-argument-table-parser), still before the client is made
    cli.register("operation-args-parsed", _configured_endpoint)


def _configured_endpoint(parsed_globals, **kwargs) -> None:
    if getattr(parsed_globals, "endpoint_url", None) != OVERRIDDEN:
        return
    service = (parsed_globals.command or "").upper().replace("-", "_")
    configured = (os.environ.get(f"AWS_ENDPOINT_URL_{service}")
                  or os.environ.get("AWS_ENDPOINT_URL"))
    if configured:
        parsed_globals.endpoint_url = configured
