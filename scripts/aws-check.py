"""Checks deploy/aws/*.tf without Terraform (not installed here): each file parses as HCL2
(python-hcl2), every reference (aws_x.name.attr, data.x.name, var.x) names something declared,
and the resources the service's settings need are there as README "Running on AWS" says: a FIFO
topic without content-based deduplication, a FIFO queue subscribed with raw delivery whose
redrive policy names the FIFO dead-letter queue, the table keyed by id with an isbn index, the
secret, the SecureString parameter, the KMS key and its alias, and two roles whose policies keep
reading and rotating apart. Not checked: the provider's schema (attribute names and types), the
plan, IAM semantics beyond the actions listed below."""
import glob
import json
import re
import sys

import hcl2

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def blocks(doc, kind):
    """{(type, name): body} of the resource or data blocks of a parsed file."""
    found = {}
    for entry in doc.get(kind, []):
        for rtype, named in entry.items():
            for name, body in named.items():
                found[(rtype.strip('"'), name.strip('"'))] = body
    return found


resources, data, variables, outputs, text = {}, {}, set(), set(), ""
files = sorted(glob.glob("deploy/aws/*.tf"))
check(files, "no deploy/aws/*.tf")
for path in files:
    with open(path) as handle:
        source = handle.read()
    text += source
    try:
        doc = hcl2.loads(source)
    except Exception as err:  # the parser's own error types vary between releases
        failures.append(f"{path}: does not parse: {err}")
        continue
    resources.update(blocks(doc, "resource"))
    data.update(blocks(doc, "data"))
    for entry in doc.get("variable", []):
        variables.update(name.strip('"') for name in entry)
    for entry in doc.get("output", []):
        outputs.update(name.strip('"') for name in entry)

# References: comments dropped, then every aws_* / data.* / var.* use.
code = re.sub(r"#[^\n]*", "", text)
for rtype, name in set(re.findall(r"(?<![\w.])(aws_[a-z0-9_]+)\.([a-z0-9_]+)\.[a-z_]+", code)):
    check((rtype, name) in resources, f"reference to undeclared resource {rtype}.{name}")
for rtype, name in set(re.findall(r"\bdata\.(aws_[a-z0-9_]+)\.([a-z0-9_]+)", code)):
    check((rtype, name) in data, f"reference to undeclared data {rtype}.{name}")
for name in set(re.findall(r"\bvar\.([a-z0-9_]+)", code)):
    check(name in variables, f"reference to undeclared variable {name}")


def s(value):
    """A string attribute's value (python-hcl2 8 keeps the quotes)."""
    return value.strip('"') if isinstance(value, str) else value


def one(rtype):
    found = [body for (kind, _), body in resources.items() if kind == rtype]
    return found


topics = one("aws_sns_topic")
check(len(topics) == 1 and topics[0].get("fifo_topic") is True, "one FIFO SNS topic")
check(topics and topics[0].get("content_based_deduplication") is False,
      "the topic deduplicates by MessageDeduplicationId (event id), not content")
queues = {name: body for (kind, name), body in resources.items() if kind == "aws_sqs_queue"}
check(len(queues) == 2 and all(q.get("fifo_queue") is True for q in queues.values()),
      "two FIFO queues (the indexer's and its dead-letter queue)")
redrive = [q.get("redrive_policy") for q in queues.values() if q.get("redrive_policy")]
check(len(redrive) == 1 and "deadLetterTargetArn" in str(redrive[0]), "one queue redrives to the DLQ")
subscriptions = one("aws_sns_topic_subscription")
check(subscriptions and subscriptions[0].get("raw_message_delivery") is True and
      s(subscriptions[0].get("protocol")) == "sqs", "the queue is subscribed with raw delivery")
tables = one("aws_dynamodb_table")
check(tables and s(tables[0].get("hash_key")) == "id", "the books table is keyed by id")
check(tables and "isbn" in json.dumps(tables[0].get("global_secondary_index")), "the table has an isbn index")
check(tables and "expires_at" in json.dumps(tables[0].get("ttl")), "tombstones expire (TTL on expires_at)")
check(one("aws_secretsmanager_secret"), "a Secrets Manager secret")
parameters = one("aws_ssm_parameter")
check(parameters and s(parameters[0].get("type")) == "SecureString", "a SecureString parameter")
check(one("aws_kms_key") and one("aws_kms_alias"), "a KMS key with an alias")
roles = {name for (kind, name) in resources if kind == "aws_iam_role"}
check({"service", "rotate"} <= roles, "separate service and rotate roles")
service = json.dumps(data.get(("aws_iam_policy_document", "service")))
rotate = json.dumps(data.get(("aws_iam_policy_document", "rotate")))
check("secretsmanager:GetSecretValue" in service and "PutSecretValue" not in service,
      "the service reads secrets and cannot write them")
check("PutSecretValue" in rotate and "GetSecretValue" not in rotate and "kms:Decrypt" not in rotate,
      "the rotate role writes secret versions and cannot read them")
check("kms:EncryptionContext:purpose" in service, "the service's KMS use is bound to its purpose")
check("dynamodb:PutItem" in service and "dynamodb:DeleteItem" not in service,
      "the read model is written by conditional puts only (tombstones, no DeleteItem)")
for setting in ["BOOKSTORE_SNS_TOPIC_ARN", "BOOKSTORE_SQS_QUEUE_URL", "BOOKSTORE_DYNAMODB_TABLE",
                "BOOKSTORE_KEK", "DATABASE_URL", "BOOKSTORE_ADMIN_PASSWORD"]:
    check(setting in outputs, f"an output for {setting}")

for failure in failures:
    print(f"FAILED: deploy/aws: {failure}", file=sys.stderr)
print(f"deploy/aws: {len(files)} files parsed, {len(resources)} resources, {len(data)} data "
      f"sources; {len(failures)} problems", file=sys.stderr)
sys.exit(1 if failures else 0)
