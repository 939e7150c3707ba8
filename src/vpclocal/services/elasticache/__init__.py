"""ElastiCache: cache subnet groups and Redis cache clusters backed by real redis-server."""
