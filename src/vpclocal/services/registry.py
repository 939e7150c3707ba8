"""The services vpclocal serves: SigV4 signing name -> the provider class ("module:Class").

Plain data, imported by the gateway (server.py), which loads each provider, and by the
simulated network (network/names.py), which gives each service's public endpoint an address.
A signing name here is also the service's endpoint prefix (`sts` -> sts.<region>.amazonaws.com).
"""

PROVIDERS = {
    "ec2": "vpclocal.services.ec2.provider:Ec2Provider",
    "iam": "vpclocal.services.iam.provider:IamProvider",
    "sts": "vpclocal.services.sts.provider:StsProvider",
    "lambda": "vpclocal.services.lambda_.provider:LambdaProvider",
    "logs": "vpclocal.services.logs.provider:LogsProvider",
    "monitoring": "vpclocal.services.cloudwatch.provider:CloudWatchProvider",
    "rds": "vpclocal.services.rds.provider:RdsProvider",
    "elasticache": "vpclocal.services.elasticache.provider:ElastiCacheProvider",
    "s3": "vpclocal.services.s3.provider:S3Provider",
    "dynamodb": "vpclocal.services.dynamodb.provider:DynamoDbProvider",
    "events": "vpclocal.services.events.provider:EventsProvider",
    "scheduler": "vpclocal.services.scheduler.provider:SchedulerProvider",
    "cloudformation": "vpclocal.services.cloudformation.provider:CloudFormationProvider",
    "fis": "vpclocal.services.fis.provider:FisProvider",
    "ssm": "vpclocal.services.ssm.provider:SsmProvider",
}
