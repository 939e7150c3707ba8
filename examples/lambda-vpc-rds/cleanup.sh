#!/usr/bin/env bash
# The guide's step 8 (cleanup), with the two additions it needs on AWS as well (marked
# "vpclocal:" below): lambda-sg and rds-sg reference each other, so neither can be deleted
# until those rules are revoked (DependencyViolation), and the DB subnet group goes only once
# the instance has (as the guide's comment says: `aws rds wait db-instance-deleted`).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=$HERE/../../.venv/bin  # `make up` installs the aws CLI (and pip) there
[ -x "$VENV/aws" ] && export PATH="$VENV:$PATH"
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=${AWS_CONFIG_FILE:-$HERE/aws-config}
WORK=${WORK:-$PWD/lambda-vpc-rds-work}
cd "$WORK"
. ./ids.sh

# Delete Lambda function
aws lambda delete-function --function-name VPCRDSFunction

# Delete RDS instance
aws rds delete-db-instance \
  --db-instance-identifier my-test-db \
  --skip-final-snapshot

# vpclocal: wait until it is gone, as the comment below asks
aws rds wait db-instance-deleted --db-instance-identifier my-test-db

# Delete DB subnet group (after RDS is deleted)
aws rds delete-db-subnet-group \
  --db-subnet-group-name my-db-subnet-group

# vpclocal: the groups' rules reference each other: revoke them first
aws ec2 revoke-security-group-egress --group-id $LAMBDA_SG --protocol tcp --port 3306 --source-group $RDS_SG
aws ec2 revoke-security-group-ingress --group-id $RDS_SG --protocol tcp --port 3306 --source-group $LAMBDA_SG

# Delete security groups
aws ec2 delete-security-group --group-id $LAMBDA_SG
aws ec2 delete-security-group --group-id $RDS_SG

# Delete subnets
aws ec2 delete-subnet --subnet-id $PRIVATE_SUBNET_1
aws ec2 delete-subnet --subnet-id $PRIVATE_SUBNET_2

# Detach and delete internet gateway
aws ec2 detach-internet-gateway --vpc-id $VPC_ID --internet-gateway-id $IGW_ID
aws ec2 delete-internet-gateway --internet-gateway-id $IGW_ID

# Delete VPC
aws ec2 delete-vpc --vpc-id $VPC_ID

# Delete IAM role
aws iam detach-role-policy \
  --role-name lambda-vpc-rds-role \
  --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole

aws iam detach-role-policy \
  --role-name lambda-vpc-rds-role \
  --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole

aws iam delete-role --role-name lambda-vpc-rds-role

# Remove local files
rm -rf lambda-package/ lambda-vpc-rds.zip response.json trust-policy.json lambda_function.py
