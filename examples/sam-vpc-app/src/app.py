"""Reads the database user from Parameter Store (an AWS API call from a private subnet: out
through the NAT gateway) and connects to the stack's RDS MySQL instance (the guide's section
8)."""

import json
import os

import boto3
import pymysql
from botocore.config import Config

# fail in seconds, not minutes, when the network has no way to the API
ssm = boto3.client("ssm", config=Config(connect_timeout=5, retries={"max_attempts": 1}))


def lambda_handler(event, context):
    try:
        user = ssm.get_parameter(Name=os.environ["DB_USER_PARAMETER"])["Parameter"]["Value"]
        connection = pymysql.connect(host=os.environ["DB_HOST"], user=user,
                                     password=os.environ["DB_PASSWORD"], database="mysql",
                                     connect_timeout=5)
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
        connection.close()
    except Exception as exc:  # noqa: BLE001 - the reason, for whoever invoked it
        return {"statusCode": 500, "body": json.dumps({"message": "Failed to connect to RDS",
                                                       "error": str(exc)})}
    return {"statusCode": 200, "body": json.dumps({"message": "Successfully connected to RDS!",
                                                   "db_user": user, "mysql_version": version})}
