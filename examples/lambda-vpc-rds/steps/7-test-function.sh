# Invoke the function
aws lambda invoke \
  --function-name VPCRDSFunction \
  --payload '{}' \
  response.json

# View response
cat response.json
