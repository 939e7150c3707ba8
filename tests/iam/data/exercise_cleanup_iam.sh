# Delete IAM role
aws iam detach-role-policy \
  --role-name lambda-vpc-rds-role \
  --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole

aws iam detach-role-policy \
  --role-name lambda-vpc-rds-role \
  --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole

aws iam delete-role --role-name lambda-vpc-rds-role
