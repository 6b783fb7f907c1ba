# Least privilege: the service reads (its secrets, its key for Decrypt/GenerateDataKey with
# its purpose, the topic to publish, its queue, its table); a separate rotate role writes
# secret versions and nothing else.

data "aws_iam_policy_document" "assume_ecs" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "service" {
  name               = "${var.name}-service"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs.json
}

resource "aws_iam_role" "rotate" {
  name               = "${var.name}-rotate"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs.json
}

data "aws_iam_policy_document" "service" {
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.database.arn]
  }
  statement {
    sid       = "ReadParameters"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.admin_password.arn]
  }
  statement {
    sid       = "EnvelopeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.bookstore.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:purpose"
      values   = ["bookstore-kek"]
    }
  }
  statement {
    sid       = "DecryptSecretsAndEvents"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.bookstore.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "secretsmanager.${var.region}.amazonaws.com",
        "ssm.${var.region}.amazonaws.com",
        "sns.${var.region}.amazonaws.com",
        "sqs.${var.region}.amazonaws.com",
      ]
    }
  }
  statement {
    sid       = "PublishEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events.arn]
  }
  statement {
    sid       = "ReadQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.indexer.arn]
  }
  statement {
    sid       = "ReadModel"
    # PutItem: the subscriber and the rebuild (every write is a conditional put; deletions are
    # tombstones, so no DeleteItem); Scan: the rebuild; GetItem, Query: readers of the model.
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.books.arn, "${aws_dynamodb_table.books.arn}/index/isbn"]
  }
}

data "aws_iam_policy_document" "rotate" {
  statement {
    sid       = "WriteSecretVersions"
    actions   = ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.database.arn]
  }
  statement {
    sid       = "WriteParameters"
    actions   = ["ssm:PutParameter"]
    resources = [aws_ssm_parameter.admin_password.arn]
  }
  statement {
    sid       = "EncryptNewVersions"
    actions   = ["kms:GenerateDataKey", "kms:Encrypt"]
    resources = [aws_kms_key.bookstore.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com", "ssm.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "service" {
  name   = "${var.name}-service"
  role   = aws_iam_role.service.id
  policy = data.aws_iam_policy_document.service.json
}

resource "aws_iam_role_policy" "rotate" {
  name   = "${var.name}-rotate"
  role   = aws_iam_role.rotate.id
  policy = data.aws_iam_policy_document.rotate.json
}
