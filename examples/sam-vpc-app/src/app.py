"""Connects to the stack's RDS MySQL instance from inside the VPC (the guide's section 8)."""

import json
import os

import pymysql


def lambda_handler(event, context):
    try:
        connection = pymysql.connect(host=os.environ["DB_HOST"], user=os.environ["DB_USER"],
                                     password=os.environ["DB_PASSWORD"], database="mysql",
                                     connect_timeout=5)
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
        connection.close()
    except Exception as exc:  # the reason, for whoever invoked it
        return {"statusCode": 500, "body": json.dumps({"message": "Failed to connect to RDS",
                                                       "error": str(exc)})}
    return {"statusCode": 200, "body": json.dumps({"message": "Successfully connected to RDS!",
                                                   "mysql_version": version})}
