//! The AWS adapters' settings (the `aws` feature). The SDK itself is configured by the
//! standard AWS variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, the credentials chain), read by
//! `bookstore_aws::config`, not here.

use super::values;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(next_help_heading = "AWS (the `aws` feature)")]
pub struct AwsArgs {
    /// SNS FIFO topic the relay publishes events to (arn:aws:sns:REGION:ACCOUNT:NAME.fifo)
    /// [default: none].
    #[arg(long, env = "BOOKSTORE_SNS_TOPIC_ARN", value_name = "ARN")]
    pub sns_topic_arn: Option<String>,
    /// SQS queue (subscribed to the topic) the `subscribers` role reads to keep the DynamoDB
    /// read model [default: none].
    #[arg(long, env = "BOOKSTORE_SQS_QUEUE_URL", value_name = "URL")]
    pub sqs_queue_url: Option<String>,
    /// Seconds a received SQS message stays hidden from other consumers while it is handled.
    #[arg(long, env = "BOOKSTORE_SQS_VISIBILITY_TIMEOUT", value_name = "SECONDS",
          default_value = "30", value_parser = values::seconds)]
    pub sqs_visibility_timeout: Duration,
    /// DynamoDB table of the books read model, kept from the events read off the SQS queue
    /// [default: none].
    #[arg(long, env = "BOOKSTORE_DYNAMODB_TABLE", value_name = "NAME")]
    pub dynamodb_table: Option<String>,
}

impl AwsArgs {
    /// Refuses, before anything starts, settings that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(arn) = &self.sns_topic_arn {
            bookstore_aws::sns::check_topic_arn(arn)?;
        }
        Ok(())
    }

    /// The read model's queue and table for a server running the `subscribers` role: both
    /// or neither. (A table alone is enough for `index rebuild --target dynamodb`.)
    pub fn read_model(&self) -> anyhow::Result<Option<(&str, &str)>> {
        match (&self.sqs_queue_url, &self.dynamodb_table) {
            (Some(queue), Some(table)) => Ok(Some((queue, table))),
            (None, None) => Ok(None),
            (None, Some(_)) => anyhow::bail!(
                "BOOKSTORE_DYNAMODB_TABLE is kept from events read off a queue: set \
                 BOOKSTORE_SQS_QUEUE_URL too"
            ),
            (Some(_), None) => anyhow::bail!(
                "BOOKSTORE_SQS_QUEUE_URL is read to keep the DynamoDB read model: set \
                 BOOKSTORE_DYNAMODB_TABLE too"
            ),
        }
    }

    /// Whether any AWS service is configured (the SDK is loaded only then).
    pub fn any(&self) -> bool {
        self.sns_topic_arn.is_some()
            || self.sqs_queue_url.is_some()
            || self.dynamodb_table.is_some()
    }
}
