# Delete Lambda function
aws lambda delete-function --function-name VPCRDSFunction

# Delete RDS instance
aws rds delete-db-instance \
  --db-instance-identifier my-test-db \
  --skip-final-snapshot

# Delete DB subnet group (after RDS is deleted)
aws rds delete-db-subnet-group \
  --db-subnet-group-name my-db-subnet-group

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
