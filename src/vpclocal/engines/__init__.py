"""Process managers for the database and cache engines behind RDS and ElastiCache."""
