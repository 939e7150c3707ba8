"""RDS: DB subnet groups, DB instances served by real MariaDB / PostgreSQL, RDS Proxy."""
