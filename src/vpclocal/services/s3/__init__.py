"""S3: buckets and objects, bodies stored as files under the data directory."""
