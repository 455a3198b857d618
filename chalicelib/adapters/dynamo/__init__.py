"""DynamoDB through PynamoDB: table models, the entity codec and the repositories."""
