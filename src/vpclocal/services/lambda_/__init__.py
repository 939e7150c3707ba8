"""AWS Lambda: functions, versions, aliases, concurrency, VPC attachment and Invoke."""
