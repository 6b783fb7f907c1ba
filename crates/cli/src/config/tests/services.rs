//! Settings of the event bus, the process roles, imports and metrics.

use super::*;

#[test]
fn nats_is_off_unless_a_url_is_set() {
    let settings = load(&[], &[]).expect("valid");
    assert!(
        settings.nats.config().is_none(),
        "the in-process bus by default"
    );
    let settings = load(
        &["--nats-subjects", "bookstore.book.*, audit.>"],
        &[
            ("BOOKSTORE_NATS_URL", "nats://user:pw@127.0.0.1:4222"),
            ("BOOKSTORE_NATS_STREAM", "SHOP_EVENTS"),
            ("BOOKSTORE_NATS_TIMEOUT_MS", "2500"),
        ],
    )
    .expect("valid");
    let config = settings.nats.config().expect("NATS configured");
    assert_eq!(config.url, "nats://user:pw@127.0.0.1:4222");
    assert_eq!(config.stream, "SHOP_EVENTS");
    assert_eq!(config.subjects, vec!["bookstore.book.*", "audit.>"]);
    assert_eq!(config.publish_timeout, Duration::from_millis(2500));
    assert!(
        settings
            .secret_sources
            .iter()
            .any(|s| s.to_string() == "BOOKSTORE_NATS_URL from the environment"),
        "{:?}",
        settings.secret_sources
    );

    let defaults = load(&[], &[("BOOKSTORE_NATS_URL", "nats://127.0.0.1:4222")])
        .expect("valid")
        .nats
        .config()
        .expect("configured");
    assert_eq!(defaults.stream, "BOOKSTORE_EVENTS");
    assert_eq!(defaults.subjects, vec!["bookstore.>"]);
    assert_eq!(defaults.publish_timeout, Duration::from_secs(5));
}

#[test]
fn the_nats_url_is_a_secret_with_a_file() {
    let url_file = file_with("nats://svc:s3cret@nats.internal:4222\n");
    let config = file_with(&format!("nats_url_file = {:?}\n", path(&url_file)));
    let settings = load(&["--config", path(&config)], &[]).expect("valid");
    assert_eq!(
        settings.nats.config().expect("configured").url,
        "nats://svc:s3cret@nats.internal:4222"
    );
    assert!(!format!("{settings:?}").contains("s3cret"));
}

#[test]
fn nats_subjects_that_miss_an_event_type_stop_the_start() {
    let err = load(&["--nats-subjects", "bookstore.book.created"], &[]).expect_err("refused");
    assert!(
        format!("{err:#}").contains("bookstore.book.updated"),
        "{err:#}"
    );
    let err = load(&["--nats-stream", "has.dots"], &[]).expect_err("refused");
    assert!(format!("{err:#}").contains("has.dots"), "{err:#}");
}

#[test]
fn roles_relay_and_retention() {
    use super::Role;
    let settings = load(&[], &[]).expect("valid");
    assert_eq!(settings.roles.roles.to_string(), "api,relay,subscribers");
    assert_eq!(
        settings.roles.outbox_retention,
        Duration::from_secs(7 * 24 * 3600)
    );
    assert_eq!(settings.roles.relay_poll_interval, Duration::from_secs(5));
    assert_eq!(
        settings.roles.audit_retention,
        Duration::from_secs(365 * 24 * 3600)
    );
    let settings = load(&[], &[("BOOKSTORE_AUDIT_RETENTION", "90")]).expect("valid");
    assert_eq!(
        settings.roles.audit_retention,
        Duration::from_secs(90 * 24 * 3600)
    );
    let settings = load(
        &["--roles", "relay"],
        &[
            ("BOOKSTORE_ROLES", "api"),
            ("BOOKSTORE_OUTBOX_RETENTION", "36h"),
        ],
    )
    .expect("valid");
    assert!(settings.roles.roles.has(Role::Relay) && !settings.roles.roles.has(Role::Api));
    assert_eq!(
        settings.roles.outbox_retention,
        Duration::from_secs(36 * 3600)
    );
    let err = load(&["--roles", "web"], &[]).expect_err("unknown role");
    assert!(format!("{err:#}").contains("unknown role"), "{err:#}");
    let err = load(&[], &[("BOOKSTORE_OUTBOX_RETENTION", "7")]).expect_err("no unit");
    assert!(format!("{err:#}").contains("unit"), "{err:#}");
}

#[test]
fn import_limits_take_binary_units() {
    for (text, bytes) in [
        ("100", 100),
        ("64KiB", 64 << 10),
        ("5 MiB", 5 << 20),
        ("2GiB", 2 << 30),
    ] {
        let settings = load(&[], &[("BOOKSTORE_IMPORT_LIMIT", text)]).expect("valid");
        assert_eq!(settings.http.import_limit, bytes, "{text}");
    }
}

#[test]
fn metrics_are_on_by_default_and_their_listener_off() {
    let settings = load(&[], &[]).expect("valid");
    assert!(settings.metrics.metrics);
    assert_eq!(settings.metrics.metrics_listen, None);
    let settings = load(
        &["--metrics-listen", "127.0.0.1:9464"],
        &[("BOOKSTORE_METRICS", "off")],
    );
    let err = settings.expect_err("a listener for metrics that are off");
    assert!(format!("{err:#}").contains("BOOKSTORE_METRICS"), "{err:#}");
    let settings = load(&[], &[("BOOKSTORE_METRICS", "off")]).expect("valid");
    assert!(!settings.metrics.metrics);
    let file = file_with("metrics_listen = \"127.0.0.1:0\"\n");
    let settings = load(&["--config", path(&file)], &[]).expect("valid");
    assert_eq!(
        settings.metrics.metrics_listen,
        Some("127.0.0.1:0".parse().expect("address"))
    );
}
