# Bookstore on AWS (README "Running on AWS"): the event topic and queues, the read-model table,
# the secrets, the KMS key and least-privilege IAM policies. Checked by scripts/aws-check
# (parsed with python-hcl2 and cross-checked; Terraform itself is not run there).
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}
