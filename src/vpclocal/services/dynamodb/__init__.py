"""DynamoDB: tables and items, with the expression language."""
