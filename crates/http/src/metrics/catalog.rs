//! Every series the service exports, with its help text. The adapters record them by these
//! names (the store and the event crates cannot depend on this one: adapters do not import
//! each other), so the names are repeated there; the black-box test holds the dashboard and
//! the alerts to what a scrape really shows.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

pub const BUILD_INFO: &str = "bookstore_build_info";
pub const HTTP_REQUESTS: &str = "bookstore_http_requests_total";
pub const HTTP_DURATION: &str = "bookstore_http_request_duration_seconds";
pub const HTTP_IN_FLIGHT: &str = "bookstore_http_requests_in_flight";
pub const HTTP_REQUEST_BYTES: &str = "bookstore_http_request_body_bytes_total";
pub const HTTP_RESPONSE_BYTES: &str = "bookstore_http_response_body_bytes_total";
pub const SIGN_INS: &str = "bookstore_auth_sign_ins_total";
pub const LOCKOUTS: &str = "bookstore_auth_lockouts_total";
pub const REFRESH_REUSE: &str = "bookstore_auth_refresh_token_reuse_total";
pub const TOKEN_VALIDATIONS: &str = "bookstore_auth_token_validations_total";
pub const RATE_LIMITED: &str = "bookstore_rate_limit_rejections_total";
pub const POOL_CONNECTIONS: &str = "bookstore_db_pool_connections";
pub const POOL_IDLE: &str = "bookstore_db_pool_idle_connections";
pub const POOL_IN_USE: &str = "bookstore_db_pool_in_use_connections";
pub const POOL_MAX: &str = "bookstore_db_pool_max_connections";
pub const POOL_ACQUIRE: &str = "bookstore_db_pool_acquire_seconds";
pub const READY: &str = "bookstore_ready";
pub const OUTBOX_BACKLOG: &str = "bookstore_outbox_backlog_events";
pub const OUTBOX_OLDEST_AGE: &str = "bookstore_outbox_oldest_unpublished_age_seconds";
pub const EVENTS_PUBLISHED: &str = "bookstore_events_published_total";
pub const EVENTS_FAILED: &str = "bookstore_events_publish_failures_total";
pub const WEBHOOK_DELIVERIES: &str = "bookstore_webhook_deliveries_total";
pub const WEBHOOK_DURATION: &str = "bookstore_webhook_delivery_duration_seconds";
pub const SEARCHES: &str = "bookstore_search_requests_total";
pub const SEARCH_DURATION: &str = "bookstore_search_duration_seconds";
pub const BOOK_CACHE: &str = "bookstore_book_cache_requests_total";
pub const FAST_PATH: &str = "bookstore_http_fast_path_answers_total";
pub const SEARCH_ANSWERS: &str = "bookstore_search_answers_total";
pub const SEARCH_INDEX_STATE: &str = "bookstore_search_index_state";
pub const SEARCH_INDEX_LAG: &str = "bookstore_search_index_lag_seconds";
pub const SEARCH_INDEX_POSITION: &str = "bookstore_search_index_position";
pub const SEARCH_INDEX_EVENTS: &str = "bookstore_search_index_events_total";
pub const SEARCH_INDEX_APPLIED: &str = "bookstore_search_index_applied_total";

/// Gives every series its help text and unit.
pub fn describe() {
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the labels say which build runs (version, git_commit)."
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status code."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its response's head, by method, route template and status."
    );
    describe_gauge!(HTTP_IN_FLIGHT, "HTTP requests being served now.");
    describe_counter!(
        HTTP_REQUEST_BYTES,
        Unit::Bytes,
        "Request body bytes read, by method and route template."
    );
    describe_counter!(
        HTTP_RESPONSE_BYTES,
        Unit::Bytes,
        "Response body bytes sent (after compression), by method and route template."
    );
    describe_counter!(
        BOOK_CACHE,
        "Reads of one book (by id or ISBN) by which level answered: hit (this process's cache), shared_hit (the cache in Redis), miss (the store)."
    );
    describe_counter!(
        FAST_PATH,
        "Requests answered by the fast path of cached reads (GET /books/{id}, by ISBN) instead of the router; they are in the HTTP and cache series too."
    );
    describe_counter!(
        SIGN_INS,
        "Sign-ins (POST /auth/login) by outcome: success, invalid_credentials, locked_out, error."
    );
    describe_counter!(
        LOCKOUTS,
        "Sign-ins refused because the account, address or device is locked out after failures."
    );
    describe_counter!(
        REFRESH_REUSE,
        "Spent refresh tokens presented again (their sign-in is revoked): a sign of theft."
    );
    describe_counter!(
        TOKEN_VALIDATIONS,
        "Access tokens checked on protected routes, by outcome: valid, invalid, error."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429, by rate-limit policy: user, sign-in, anonymous."
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "Open database connections, by pool (reads, writes)."
    );
    describe_gauge!(POOL_IDLE, "Idle database connections, by pool.");
    describe_gauge!(POOL_IN_USE, "Database connections in use, by pool.");
    describe_gauge!(POOL_MAX, "The most connections a pool opens.");
    describe_histogram!(
        POOL_ACQUIRE,
        Unit::Seconds,
        "Time spent waiting for a database connection, by pool (writes: until the write transaction has begun)."
    );
    describe_gauge!(
        READY,
        "1 while the store is reachable and migrated (what /readyz checks), else 0; sampled every 5 s."
    );
    describe_gauge!(
        OUTBOX_BACKLOG,
        "Events committed to the outbox and not yet published."
    );
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest unpublished outbox event; 0 when none waits."
    );
    describe_counter!(
        EVENTS_PUBLISHED,
        "Events the bus accepted, by bus (in-process, nats)."
    );
    describe_counter!(
        EVENTS_FAILED,
        "Events the bus did not accept (they stay in the outbox and are sent again), by bus."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts by outcome: delivered, retrying (will be tried again), failed (given up)."
    );
    describe_histogram!(
        WEBHOOK_DURATION,
        Unit::Seconds,
        "Duration of webhook delivery attempts, by outcome."
    );
    describe_counter!(
        SEARCHES,
        "Full-text searches by the path that answered: typed, prefix, typo (fallback), any_word (fallback)."
    );
    describe_counter!(
        SEARCH_ANSWERS,
        "Book lists and searches with BOOKSTORE_SEARCH=index, by who answered (index, database) and why the database did (plain_list, unsupported, building, lagging, own_write, token, failed)."
    );
    describe_gauge!(
        SEARCH_INDEX_STATE,
        "The search index: 0 fresh (it answers), 1 lagging behind the event log, 2 being built (the database answers)."
    );
    describe_gauge!(
        SEARCH_INDEX_LAG,
        Unit::Seconds,
        "Time since the search index was last caught up with the event log."
    );
    describe_gauge!(
        SEARCH_INDEX_POSITION,
        "The event-log position the search index has applied and committed."
    );
    describe_counter!(
        SEARCH_INDEX_EVENTS,
        "Book events the search index has read from the event log."
    );
    describe_counter!(
        SEARCH_INDEX_APPLIED,
        "Book events that changed the search index (the rest were replays or stale)."
    );
    describe_histogram!(
        SEARCH_DURATION,
        Unit::Seconds,
        "Time to find a page of a full-text search, by path."
    );
}

/// Starts the counters whose label values are known at zero, so that a rate over them is
/// defined (and an alert on them can fire) from their first increment on.
pub fn preset() {
    for outcome in ["success", "invalid_credentials", "locked_out", "error"] {
        metrics::counter!(SIGN_INS, "outcome" => outcome).increment(0);
    }
    for outcome in ["valid", "invalid", "error"] {
        metrics::counter!(TOKEN_VALIDATIONS, "outcome" => outcome).increment(0);
    }
    for policy in ["user", "sign-in", "anonymous"] {
        metrics::counter!(RATE_LIMITED, "policy" => policy).increment(0);
    }
    for outcome in ["delivered", "retrying", "failed"] {
        metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(0);
    }
    for path in ["typed", "prefix", "typo", "any_word"] {
        metrics::counter!(SEARCHES, "path" => path).increment(0);
    }
    metrics::counter!(LOCKOUTS).increment(0);
    metrics::counter!(REFRESH_REUSE).increment(0);
    metrics::gauge!(HTTP_IN_FLIGHT).set(0.0);
}
