//! The JetStream stream the events go to: created at start, or updated when its subjects are
//! not the configured ones.
//!
//! The stream is read and written as raw JSON through the JetStream API rather than through
//! the client's typed configuration: an update sends back every field the server gave,
//! including those of server versions newer than the client knows (compression, metadata),
//! which a typed round trip would silently reset.

use async_nats::jetstream::Context;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// JetStream's error code for a stream that does not exist.
const STREAM_NOT_FOUND: u64 = 10059;
/// JetStream's error code for a stream name already taken (another replica created it first).
const STREAM_NAME_IN_USE: u64 = 10058;

/// How long JetStream remembers an event id to drop a second copy: a relay that crashed
/// between JetStream's acknowledgement and marking the row published sends it again once it
/// is back, well within this. (JetStream's own default; set explicitly so that it is visible.)
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    Existed,
    Created,
    /// The stream's subjects were these, and are now the configured ones.
    Updated {
        previous_subjects: Vec<String>,
    },
}

/// Creates the stream `name` capturing `subjects`, or sets its subjects to them; leaves every
/// other setting of an existing stream (limits, replicas, storage) as its operator made it.
pub async fn ensure(js: &Context, name: &str, subjects: &[String]) -> Result<Ensured, String> {
    // Two tries: another replica may create the stream between our look and our create.
    for _ in 0..2 {
        let info = api(js, &format!("STREAM.INFO.{name}"), &Value::Null).await?;
        match api_error(&info) {
            Some((STREAM_NOT_FOUND, _)) => {
                let created = api(
                    js,
                    &format!("STREAM.CREATE.{name}"),
                    &new_config(name, subjects),
                )
                .await?;
                match api_error(&created) {
                    None => return Ok(Ensured::Created),
                    Some((STREAM_NAME_IN_USE, _)) => continue,
                    Some((_, description)) => {
                        return Err(format!("creating the stream {name}: {description}"))
                    }
                }
            }
            Some((_, description)) => {
                return Err(format!("looking up the stream {name}: {description}"))
            }
            None => {}
        }
        let mut config = info.get("config").cloned().unwrap_or(Value::Null);
        let previous_subjects: Vec<String> = config
            .get("subjects")
            .and_then(Value::as_array)
            .map(|subjects| {
                subjects
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let wanted: BTreeSet<&str> = subjects.iter().map(String::as_str).collect();
        let current: BTreeSet<&str> = previous_subjects.iter().map(String::as_str).collect();
        if wanted == current {
            return Ok(Ensured::Existed);
        }
        let Some(fields) = config.as_object_mut() else {
            return Err(format!("the stream {name} came without its configuration"));
        };
        fields.insert("subjects".into(), json!(subjects));
        let updated = api(js, &format!("STREAM.UPDATE.{name}"), &config).await?;
        return match api_error(&updated) {
            None => Ok(Ensured::Updated { previous_subjects }),
            Some((_, description)) => Err(format!(
                "updating the subjects of the stream {name}: {description}"
            )),
        };
    }
    Err(format!(
        "the stream {name} was created and removed again while setting it up"
    ))
}

/// A new stream: on disk, kept by limits (none set: the operator sets retention to taste),
/// one replica (a clustered operator raises it).
fn new_config(name: &str, subjects: &[String]) -> Value {
    json!({
        "name": name,
        "subjects": subjects,
        "retention": "limits",
        "storage": "file",
        "discard": "old",
        "num_replicas": 1,
        "max_consumers": -1,
        "max_msgs": -1,
        "max_bytes": -1,
        "max_msgs_per_subject": -1,
        "max_msg_size": -1,
        "max_age": 0,
        "duplicate_window": u64::try_from(DUPLICATE_WINDOW.as_nanos()).unwrap_or(u64::MAX),
    })
}

async fn api(js: &Context, subject: &str, body: &Value) -> Result<Value, String> {
    js.request::<_, Value, Value>(subject.to_owned(), body)
        .await
        .map_err(|err| format!("JetStream API {subject}: {err}"))
}

/// The JetStream API's error, as its code and description.
fn api_error(response: &Value) -> Option<(u64, String)> {
    let error = response.get("error")?;
    let code = error.get("err_code").and_then(Value::as_u64).unwrap_or(0);
    let description = error
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("unknown error")
        .to_owned();
    Some((code, description))
}

/// Whether a message on `subject` goes to a stream listening on `filter` (NATS wildcards:
/// `*` one token, `>` one or more trailing tokens).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut filter = filter.split('.');
    let mut subject = subject.split('.');
    loop {
        match (filter.next(), subject.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(f), Some(s)) if f == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_nats_matches_them() {
        assert!(subject_matches("bookstore.>", "bookstore.book.created"));
        assert!(subject_matches(
            "bookstore.book.*",
            "bookstore.book.created"
        ));
        assert!(subject_matches(
            "bookstore.book.created",
            "bookstore.book.created"
        ));
        assert!(subject_matches("*.book.>", "bookstore.book.stock_adjusted"));
        assert!(!subject_matches("bookstore.>", "bookstore"));
        assert!(!subject_matches("bookstore.*", "bookstore.book.created"));
        assert!(!subject_matches("shop.>", "bookstore.book.created"));
        assert!(!subject_matches(
            "bookstore.book.created.x",
            "bookstore.book.created"
        ));
    }

    #[test]
    fn a_new_stream_keeps_ids_for_the_duplicate_window() {
        let config = new_config("S", &["bookstore.>".to_owned()]);
        assert_eq!(config["duplicate_window"], json!(120_000_000_000_u64));
        assert_eq!(config["subjects"], json!(["bookstore.>"]));
    }
}
