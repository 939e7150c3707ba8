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
