"""CloudWatch metrics."""
