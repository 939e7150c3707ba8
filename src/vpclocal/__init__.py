"""vpclocal: a local AWS cloud for serverless applications that live in a VPC."""

__version__ = "0.1.0"
