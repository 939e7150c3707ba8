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
