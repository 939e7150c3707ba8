#!/usr/bin/env bash
# The AWS Lambda VPC guide's exercise (section 8, steps 1-7), verbatim, against vpclocal.
#
#   make up                                  # in another terminal: the server on :4566
#   examples/lambda-vpc-rds/walkthrough.sh   # then cleanup.sh (step 8)
#
# Only the environment differs from AWS: the endpoint, test credentials, and an AWS CLI config
# that loads vpclocal's plugin (aws-config: AWS CLI v1 sends `aws rds` in us-east-1 to
# https://rds.amazonaws.com whatever AWS_ENDPOINT_URL says). Files go to ./lambda-vpc-rds-work/
# and the ids to ./lambda-vpc-rds-work/ids.sh, for cleanup.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=$HERE/../../.venv/bin  # `make up` installs the aws CLI (and pip) there
[ -x "$VENV/aws" ] && export PATH="$VENV:$PATH"
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=${AWS_CONFIG_FILE:-$HERE/aws-config}
WORK=${WORK:-$PWD/lambda-vpc-rds-work}
mkdir -p "$WORK" && cd "$WORK"

# ---- Step 1: Create VPC and Subnets ------------------------------------------
# Create VPC
VPC_ID=$(aws ec2 create-vpc \
  --cidr-block 10.0.0.0/16 \
  --query 'Vpc.VpcId' \
  --output text)

echo "VPC Created: $VPC_ID"

# Enable DNS hostnames
aws ec2 modify-vpc-attribute \
  --vpc-id $VPC_ID \
  --enable-dns-hostnames

# Create Internet Gateway
IGW_ID=$(aws ec2 create-internet-gateway \
  --query 'InternetGateway.InternetGatewayId' \
  --output text)

aws ec2 attach-internet-gateway \
  --vpc-id $VPC_ID \
  --internet-gateway-id $IGW_ID

echo "Internet Gateway: $IGW_ID"

# Create Private Subnets (for Lambda and RDS)
PRIVATE_SUBNET_1=$(aws ec2 create-subnet \
  --vpc-id $VPC_ID \
  --cidr-block 10.0.10.0/24 \
  --availability-zone us-east-1a \
  --query 'Subnet.SubnetId' \
  --output text)

PRIVATE_SUBNET_2=$(aws ec2 create-subnet \
  --vpc-id $VPC_ID \
  --cidr-block 10.0.20.0/24 \
  --availability-zone us-east-1b \
  --query 'Subnet.SubnetId' \
  --output text)

echo "Private Subnets: $PRIVATE_SUBNET_1, $PRIVATE_SUBNET_2"

# ---- Step 2: Create Security Groups ------------------------------------------
# Lambda Security Group
LAMBDA_SG=$(aws ec2 create-security-group \
  --group-name lambda-sg \
  --description "Security group for Lambda" \
  --vpc-id $VPC_ID \
  --query 'GroupId' \
  --output text)

echo "Lambda SG: $LAMBDA_SG"

# RDS Security Group
RDS_SG=$(aws ec2 create-security-group \
  --group-name rds-sg \
  --description "Security group for RDS" \
  --vpc-id $VPC_ID \
  --query 'GroupId' \
  --output text)

echo "RDS SG: $RDS_SG"

# Lambda SG: Allow outbound to RDS (port 3306)
aws ec2 authorize-security-group-egress \
  --group-id $LAMBDA_SG \
  --protocol tcp \
  --port 3306 \
  --source-group $RDS_SG

# RDS SG: Allow inbound from Lambda (port 3306)
aws ec2 authorize-security-group-ingress \
  --group-id $RDS_SG \
  --protocol tcp \
  --port 3306 \
  --source-group $LAMBDA_SG

echo "Security group rules configured"

# ---- Step 3: Create RDS Instance ---------------------------------------------
# Create DB Subnet Group
aws rds create-db-subnet-group \
  --db-subnet-group-name my-db-subnet-group \
  --db-subnet-group-description "Subnet group for RDS" \
  --subnet-ids $PRIVATE_SUBNET_1 $PRIVATE_SUBNET_2

# Create RDS MySQL Instance
aws rds create-db-instance \
  --db-instance-identifier my-test-db \
  --db-instance-class db.t3.micro \
  --engine mysql \
  --master-username admin \
  --master-user-password MyPassword123! \
  --allocated-storage 20 \
  --db-subnet-group-name my-db-subnet-group \
  --vpc-security-group-ids $RDS_SG \
  --no-publicly-accessible

echo "RDS instance creating (takes ~10 minutes)..."
echo "Check status: aws rds describe-db-instances --db-instance-identifier my-test-db"

# Wait for RDS to be available
aws rds wait db-instance-available \
  --db-instance-identifier my-test-db

# Get RDS Endpoint
DB_ENDPOINT=$(aws rds describe-db-instances \
  --db-instance-identifier my-test-db \
  --query 'DBInstances[0].Endpoint.Address' \
  --output text)

echo "RDS Endpoint: $DB_ENDPOINT"

# ---- Step 4: Create Lambda Function ------------------------------------------
# lambda_function.py is the guide's, shipped beside this script
cp "$HERE/lambda_function.py" .
# Create deployment package
mkdir lambda-package
cd lambda-package

# Install pymysql
pip install pymysql -t .

# Copy function code
cp ../lambda_function.py .

# Create zip
zip -r ../lambda-vpc-rds.zip .
cd ..

# ---- Step 5: Create IAM Role -------------------------------------------------
# Create trust policy
cat > trust-policy.json <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Service": "lambda.amazonaws.com"
      },
      "Action": "sts:AssumeRole"
    }
  ]
}
EOF

# Create role
ROLE_ARN=$(aws iam create-role \
  --role-name lambda-vpc-rds-role \
  --assume-role-policy-document file://trust-policy.json \
  --query 'Role.Arn' \
  --output text)

echo "Role ARN: $ROLE_ARN"

# Attach policies
aws iam attach-role-policy \
  --role-name lambda-vpc-rds-role \
  --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole

aws iam attach-role-policy \
  --role-name lambda-vpc-rds-role \
  --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole

echo "Waiting for role to propagate..."
sleep 10

# ---- Step 6: Deploy Lambda Function ------------------------------------------
# Create Lambda function with VPC config
aws lambda create-function \
  --function-name VPCRDSFunction \
  --runtime python3.9 \
  --role $ROLE_ARN \
  --handler lambda_function.lambda_handler \
  --zip-file fileb://lambda-vpc-rds.zip \
  --timeout 30 \
  --vpc-config SubnetIds=$PRIVATE_SUBNET_1,$PRIVATE_SUBNET_2,SecurityGroupIds=$LAMBDA_SG \
  --environment Variables="{DB_HOST=$DB_ENDPOINT,DB_USER=admin,DB_PASSWORD=MyPassword123!}"

echo "Lambda function created!"

# ---- Step 7: Test the Function -----------------------------------------------
# Invoke the function
aws lambda invoke \
  --function-name VPCRDSFunction \
  --payload '{}' \
  response.json

# View response
cat response.json

cat > ids.sh <<EOF
VPC_ID=$VPC_ID IGW_ID=$IGW_ID PRIVATE_SUBNET_1=$PRIVATE_SUBNET_1 PRIVATE_SUBNET_2=$PRIVATE_SUBNET_2
LAMBDA_SG=$LAMBDA_SG RDS_SG=$RDS_SG
EOF
