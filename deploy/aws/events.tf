# BOOKSTORE_SNS_TOPIC_ARN: a FIFO topic (per-book order: MessageGroupId = book id;
# deduplication: MessageDeduplicationId = event id, so no content-based deduplication).
resource "aws_sns_topic" "events" {
  name                        = "${var.name}-events.fifo"
  fifo_topic                  = true
  content_based_deduplication = false
  kms_master_key_id           = aws_kms_key.bookstore.arn
}

# Poison messages end up here after max_receives receives.
resource "aws_sqs_queue" "indexer_dlq" {
  name                      = "${var.name}-indexer-dlq.fifo"
  fifo_queue                = true
  message_retention_seconds = 1209600
}

# BOOKSTORE_SQS_QUEUE_URL (and `bookstore events tail --sqs`): the read model's queue.
resource "aws_sqs_queue" "indexer" {
  name                       = "${var.name}-indexer.fifo"
  fifo_queue                 = true
  visibility_timeout_seconds = 30
  receive_wait_time_seconds  = 20
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.indexer_dlq.arn
    maxReceiveCount     = var.max_receives
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "indexer_dlq" {
  queue_url = aws_sqs_queue.indexer_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.indexer.arn]
  })
}

# Raw delivery: the queue's messages are the CloudEvents themselves.
resource "aws_sns_topic_subscription" "indexer" {
  topic_arn            = aws_sns_topic.events.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.indexer.arn
  raw_message_delivery = true
}

# Only the topic may send to the queue.
resource "aws_sqs_queue_policy" "indexer" {
  queue_url = aws_sqs_queue.indexer.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.indexer.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.events.arn } }
    }]
  })
}
