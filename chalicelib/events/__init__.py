"""Lambda handlers for events: S3 uploads via SQS, the main table's DynamoDB stream, schedules."""
