import json
import pymysql
import os

def lambda_handler(event, context):
    """
    Lambda function that connects to RDS MySQL in VPC
    """
    db_host = os.environ['DB_HOST']
    db_user = os.environ['DB_USER']
    db_password = os.environ['DB_PASSWORD']
    db_name = os.environ.get('DB_NAME', 'mysql')

    try:
        # Connect to RDS
        connection = pymysql.connect(
            host=db_host,
            user=db_user,
            password=db_password,
            database=db_name,
            connect_timeout=5
        )

        with connection.cursor() as cursor:
            # Simple query to test connection
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()

        connection.close()

        return {
            'statusCode': 200,
            'body': json.dumps({
                'message': 'Successfully connected to RDS!',
                'mysql_version': version[0],
                'db_host': db_host
            })
        }

    except Exception as e:
        return {
            'statusCode': 500,
            'body': json.dumps({
                'message': 'Failed to connect to RDS',
                'error': str(e)
            })
        }
