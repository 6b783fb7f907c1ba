# The service's settings, as README "Running on AWS" maps them.
output "BOOKSTORE_SNS_TOPIC_ARN" {
  value = aws_sns_topic.events.arn
}

output "BOOKSTORE_SQS_QUEUE_URL" {
  value = aws_sqs_queue.indexer.id
}

output "BOOKSTORE_DYNAMODB_TABLE" {
  value = aws_dynamodb_table.books.name
}

output "BOOKSTORE_KEK" {
  value = "kms:${aws_kms_alias.kek.name}"
}

output "DATABASE_URL" {
  value = "aws-sm:${aws_secretsmanager_secret.database.name}#url"
}

output "BOOKSTORE_ADMIN_PASSWORD" {
  value = "aws-ssm:${aws_ssm_parameter.admin_password.name}"
}
