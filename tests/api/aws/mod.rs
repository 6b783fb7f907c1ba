//! The AWS adapters (the `aws` feature) against a moto server of each test's own
//! (`bookstore_aws::testing::Moto`, PyPI `moto[server]` pinned in `./scripts/test`), with
//! resource names unique per test.

mod events;
mod kms;
mod mixed;
mod read_model;
mod secrets;

use bookstore_aws::testing::Moto;
use std::process::Output;

/// A name no other test uses (SNS, SQS and DynamoDB names: letters, digits, `-`, `_`).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// The server's environment: moto's endpoint and credentials, then `extra`.
pub fn env_with<'a>(
    moto_env: &'a [(&'static str, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<(&str, &str)> = moto_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    env
}

/// `bookstore ARGS` with moto's environment, run to its end.
pub fn run_cli(moto: &Moto, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(crate::helpers::binary());
    command.args(args).env("BOOKSTORE_LOG", "warn");
    for (name, value) in moto.env() {
        command.env(name, value);
    }
    command.output().expect("run bookstore")
}

/// A FIFO topic with a FIFO queue subscribed (raw delivery) whose redrive policy sends a
/// message to a FIFO dead-letter queue after `max_receives` receives.
pub struct Fanout {
    pub topic_arn: String,
    pub queue_url: String,
    pub dlq_url: String,
}

pub async fn fanout(config: &aws_config::SdkConfig, max_receives: u32) -> Fanout {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let name = unique("books");
    let topic_arn = sns
        .create_topic()
        .name(format!("{name}.fifo"))
        .attributes("FifoTopic", "true")
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic arn");
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create dlq")
        .queue_url
        .expect("dlq url");
    let dlq_arn = queue_arn(&sqs, &dlq_url).await;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receives.to_string(),
    });
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-indexer.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let queue_arn = queue_arn(&sqs, &queue_url).await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");
    Fanout {
        topic_arn,
        queue_url,
        dlq_url,
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn")
}
