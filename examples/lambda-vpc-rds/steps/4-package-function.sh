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
