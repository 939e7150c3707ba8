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
