//! A span per store statement, made from the event sqlx writes when a statement ends (target
//! `sqlx::query`: its SQL text, rows and elapsed time), so that every one of the store's
//! statements is traced without a span at each of its call sites.
//!
//! The span follows the database conventions: named `SELECT books`, kind client, with
//! `db.system`, `db.operation` and `db.collection.name` read from the SQL. The SQL text itself
//! is not exported: the statements bind their values as parameters, and none of a statement's
//! text or parameters ends up in an attribute.
//!
//! A statement outside any sampled span (the relay polling, the janitor) makes no span: it
//! would be a trace of one statement.

use crate::DbSystem;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracer;
use std::time::{Duration, SystemTime};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// sqlx's event of a finished statement.
pub(crate) fn is_statement_event(meta: &Metadata<'_>) -> bool {
    meta.is_event() && meta.target() == "sqlx::query"
}

pub(crate) struct Statements {
    tracer: SdkTracer,
    db: DbSystem,
}

impl Statements {
    pub(crate) fn new(tracer: SdkTracer, db: DbSystem) -> Self {
        Self { tracer, db }
    }
}

impl<S: Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        // The span the statement ran in, as the OpenTelemetry layer made it current when
        // that span was entered (on this thread: SQLite's worker enters its caller's span).
        let parent = opentelemetry::Context::current();
        if !parent.span().span_context().is_sampled() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        // sqlx writes the whole text only when it is longer than the summary.
        let sql = if fields.statement.trim().is_empty() {
            &fields.summary
        } else {
            &fields.statement
        };
        let statement = Statement::read(sql);
        let end = SystemTime::now();
        let elapsed = Duration::try_from_secs_f64(fields.elapsed_secs).unwrap_or_default();
        let start = end.checked_sub(elapsed).unwrap_or(end);
        let mut attributes = vec![KeyValue::new("db.system", self.db.as_str())];
        if let Some(operation) = &statement.operation {
            attributes.push(KeyValue::new("db.operation", operation.clone()));
        }
        if let Some(collection) = &statement.collection {
            attributes.push(KeyValue::new("db.collection.name", collection.clone()));
        }
        attributes.push(KeyValue::new(
            "db.response.returned_rows",
            i64::try_from(fields.rows_returned).unwrap_or(i64::MAX),
        ));
        let mut span = self
            .tracer
            .span_builder(statement.span_name(self.db))
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

#[derive(Default)]
struct Fields {
    summary: String,
    statement: String,
    rows_returned: u64,
    elapsed_secs: f64,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = value;
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// What a statement does and to which table, read from its SQL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Statement {
    /// The SQL command, upper-case: `SELECT`, `INSERT`, `BEGIN`...; for `WITH`, the command
    /// of the main statement.
    pub operation: Option<String>,
    /// The table the command works on: what follows `INSERT INTO`, `UPDATE`, `DELETE FROM`
    /// or a query's first `FROM`.
    pub collection: Option<String>,
}

/// Words of the SQL outside string literals and comments, with their parenthesis depth.
fn words(sql: &str) -> Vec<(u32, &str)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut depth: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'\'' => {
                // A literal, with '' inside it.
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            _ if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'"' | b'.' | b'$') => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'"' | b'.' | b'$'))
                {
                    i += 1;
                }
                if let Some(word) = sql.get(start..i) {
                    out.push((depth, word));
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// A table name as the SQL wrote it, unquoted; `None` for anything else (a subquery, a
/// parameter).
fn table(word: &str) -> Option<String> {
    let name = word.replace('"', "");
    let valid = name
        .split('.')
        .all(|part| part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'));
    (valid && !name.is_empty()).then_some(name)
}

const COMMANDS: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE"];

impl Statement {
    pub fn read(sql: &str) -> Self {
        let words = words(sql);
        let top = |at: usize| words.get(at).filter(|(depth, _)| *depth == 0).map(|w| w.1);
        let Some(first) = top(0) else {
            return Self::default();
        };
        let first = first.to_ascii_uppercase();
        // The main statement of `WITH a AS (...) UPDATE ...`.
        let (operation, from) = if first == "WITH" {
            match (1..words.len()).find(|&at| {
                top(at).is_some_and(|w| COMMANDS.iter().any(|c| w.eq_ignore_ascii_case(c)))
            }) {
                Some(at) => (words[at].1.to_ascii_uppercase(), at),
                None => return Self::default(),
            }
        } else {
            (first, 0)
        };
        // The word after `keyword`, both outside parentheses: not a subquery.
        let after = |keyword: &str| {
            (from + 1..words.len())
                .find(|&at| top(at).is_some_and(|w| w.eq_ignore_ascii_case(keyword)))
                .and_then(|at| top(at + 1))
        };
        let target = match operation.as_str() {
            "INSERT" => after("INTO"),
            "DELETE" | "SELECT" => after("FROM"),
            "UPDATE" => (from + 1..words.len())
                .map_while(top)
                .filter(|w| !w.eq_ignore_ascii_case("ONLY"))
                // SQLite's `UPDATE OR IGNORE t`.
                .find(|w| {
                    !["OR", "ABORT", "FAIL", "IGNORE", "REPLACE", "ROLLBACK"]
                        .iter()
                        .any(|c| w.eq_ignore_ascii_case(c))
                }),
            _ => None,
        };
        Self {
            collection: target.and_then(table),
            operation: Some(operation),
        }
    }

    /// `SELECT books`, `BEGIN`, or the database's name for what cannot be read.
    pub fn span_name(&self, db: DbSystem) -> String {
        match (&self.operation, &self.collection) {
            (Some(operation), Some(collection)) => format!("{operation} {collection}"),
            (Some(operation), None) => operation.clone(),
            _ => db.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> (Option<String>, Option<String>) {
        let statement = Statement::read(sql);
        (statement.operation, statement.collection)
    }

    fn some(operation: &str, collection: &str) -> (Option<String>, Option<String>) {
        (Some(operation.into()), Some(collection.into()))
    }

    #[test]
    fn reads_the_operation_and_the_table() {
        assert_eq!(
            read("SELECT id, title FROM books WHERE id = $1"),
            some("SELECT", "books")
        );
        assert_eq!(
            read("insert into book_history (id, action) values (?, ?)"),
            some("INSERT", "book_history")
        );
        assert_eq!(
            read("INSERT OR IGNORE INTO outbox (id) VALUES (?)"),
            some("INSERT", "outbox")
        );
        assert_eq!(
            read("UPDATE books SET title = $2 WHERE id = $1"),
            some("UPDATE", "books")
        );
        assert_eq!(
            read("UPDATE OR IGNORE \"books\" SET x = 1"),
            some("UPDATE", "books")
        );
        assert_eq!(
            read("DELETE FROM public.refresh_tokens WHERE family = $1"),
            some("DELETE", "public.refresh_tokens")
        );
        assert_eq!(read("BEGIN"), (Some("BEGIN".into()), None));
        assert_eq!(read("SELECT 1"), (Some("SELECT".into()), None));
        assert_eq!(read(""), (None, None));
    }

    #[test]
    fn looks_past_subqueries_literals_and_comments() {
        assert_eq!(
            read("SELECT (SELECT count(*) FROM authors) AS n FROM books b"),
            some("SELECT", "books")
        );
        assert_eq!(
            read("SELECT 'FROM nowhere' AS x FROM genres -- FROM comments\n"),
            some("SELECT", "genres")
        );
        assert_eq!(
            read("WITH moved AS (SELECT * FROM outbox) UPDATE outbox_leases SET n = 1"),
            some("UPDATE", "outbox_leases")
        );
        assert_eq!(
            read("SELECT * FROM (SELECT 1) AS sub"),
            (Some("SELECT".into()), None)
        );
    }

    #[test]
    fn names_the_span_after_what_it_read() {
        let statement = Statement::read("SELECT * FROM books");
        assert_eq!(statement.span_name(DbSystem::Sqlite), "SELECT books");
        assert_eq!(
            Statement::read("COMMIT").span_name(DbSystem::Postgresql),
            "COMMIT"
        );
        assert_eq!(
            Statement::read("").span_name(DbSystem::Postgresql),
            "postgresql"
        );
    }
}
