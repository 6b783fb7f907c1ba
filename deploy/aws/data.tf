# BOOKSTORE_KEK=kms:alias/<name>-kek: envelope encryption of the key-encryption key.
resource "aws_kms_key" "bookstore" {
  description             = "Bookstore key-encryption key (wraps the data key sealing signing keys)"
  key_usage               = "ENCRYPT_DECRYPT"
  deletion_window_in_days = 30
  enable_key_rotation     = true
}

resource "aws_kms_alias" "kek" {
  name          = "alias/${var.name}-kek"
  target_key_id = aws_kms_key.bookstore.key_id
}

# BOOKSTORE_DYNAMODB_TABLE: the books read model, by id and by ISBN (index "isbn").
resource "aws_dynamodb_table" "books" {
  name         = "${var.name}-books"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "isbn"
    type = "S"
  }

  global_secondary_index {
    name            = "isbn"
    hash_key        = "isbn"
    projection_type = "ALL"
  }

  # A deleted book's tombstone (which keeps a stale event from putting the book back) goes
  # 15 days after the deletion, once no event about it can still be waiting in SQS.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }
}

# DATABASE_URL=aws-sm:<name>/database#url; its value is set (and rotated) outside Terraform.
resource "aws_secretsmanager_secret" "database" {
  name       = "${var.name}/database"
  kms_key_id = aws_kms_key.bookstore.arn
}

# BOOKSTORE_ADMIN_PASSWORD=aws-ssm:/<name>/admin_password (a SecureString, value set outside).
resource "aws_ssm_parameter" "admin_password" {
  name   = "/${var.name}/admin_password"
  type   = "SecureString"
  key_id = aws_kms_key.bookstore.arn
  value  = "set-me"
  lifecycle {
    ignore_changes = [value]
  }
}
