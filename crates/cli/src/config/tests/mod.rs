use super::*;
use bookstore_http::gateway::CorsOrigins;
use bookstore_http::ratelimit::RateLimits;
use clap::CommandFactory;
use secrecy::ExposeSecret;
use std::ffi::OsString;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Parser)]
struct TestCli {
    #[command(flatten)]
    settings: Settings,
}

/// The settings' environment variables are process-wide: one test at a time sets them.
static ENVIRONMENT: Mutex<()> = Mutex::new(());

/// The settings from `args` and, of the settings' own environment variables, exactly `env`.
fn load(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let _one_at_a_time = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    let names: Vec<OsString> = TestCli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env().map(ToOwned::to_owned))
        .collect();
    let saved: Vec<(OsString, Option<OsString>)> = names
        .iter()
        .map(|name| (name.clone(), std::env::var_os(name)))
        .collect();
    for name in &names {
        std::env::remove_var(name);
    }
    for (name, value) in env {
        std::env::set_var(name, value);
    }
    let result = parse(
        std::iter::once("bookstore").chain(args.iter().copied()),
        |cli: &mut TestCli| &mut cli.settings,
    )
    .map(|cli| cli.settings);
    for (name, value) in saved {
        match value {
            Some(value) => std::env::set_var(&name, value),
            None => std::env::remove_var(&name),
        }
    }
    result
}

fn file_with(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(content.as_bytes()).expect("write");
    file
}

fn path(file: &tempfile::NamedTempFile) -> &str {
    file.path().to_str().expect("utf-8 path")
}

fn secret(value: &Option<secrecy::SecretString>) -> Option<&str> {
    value.as_ref().map(|s| s.expose_secret())
}

#[test]
fn defaults_without_any_setting() {
    let settings = load(&[], &[]).expect("valid");
    assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        settings.public_url(settings.server.listen),
        "http://127.0.0.1:8080"
    );
    assert_eq!(settings.store.data_dir, PathBuf::from("./data"));
    assert!(settings.store.database_url.is_none());
    assert_eq!(settings.store.db_max_connections, 16);
    assert_eq!(settings.http.body_limit, 1024 * 1024);
    assert_eq!(settings.http.import_limit, 1 << 30);
    assert_eq!(settings.log.log, "info");
    assert_eq!(settings.log.log_format, LogFormat::Auto);
    assert_eq!(settings.server.shutdown_grace, Duration::from_secs(30));
    assert_eq!(settings.server.shutdown_drain, Duration::from_secs(5));
    assert_eq!(settings.auth.audience, "bookstore-api");
    assert_eq!(settings.auth.access_token_ttl, Duration::from_secs(900));
    assert!(settings.auth.trusted_issuers.0.is_empty());
    assert!(settings.secret_sources.is_empty());
}

#[test]
fn flags_beat_environment_beat_the_config_file_beats_the_default() {
    let file = file_with(
        "listen = \"0.0.0.0:9000\"\nlog = \"debug\"\nbody_limit = 10\naudience = \"file\"\n\
         log_format = \"text\"\nrate_limit_user = \"1/min\"\ncors_origins = [\"https://file.example\"]\n\
         tls_self_signed = true\nredis_timeout_ms = 7\n",
    );
    let settings = load(
        &[
            "--config",
            path(&file),
            "--body-limit",
            "30",
            "--log-format=json",
        ],
        &[
            ("BOOKSTORE_LOG", "warn"),
            ("BOOKSTORE_BODY_LIMIT", "20"),
            ("BOOKSTORE_AUDIENCE", "env"),
            ("BOOKSTORE_LOG_FORMAT", "auto"),
            ("BOOKSTORE_CORS_ORIGINS", "https://env.example"),
            ("BOOKSTORE_TLS_SELF_SIGNED", "false"),
        ],
    )
    .expect("valid");
    // Flag over environment over file.
    assert_eq!(settings.http.body_limit, 30);
    assert_eq!(settings.log.log_format, LogFormat::Json);
    // Environment over file.
    assert_eq!(settings.log.log, "warn");
    assert_eq!(settings.auth.audience, "env");
    assert_eq!(
        settings.http.cors_origins,
        CorsOrigins::List(vec!["https://env.example".into()])
    );
    assert!(!settings.tls.tls_self_signed);
    // File over default.
    assert_eq!(settings.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(
        settings.http.rate_limits.rate_limit_user.to_string(),
        "1/min"
    );
    assert_eq!(settings.redis.redis_timeout_ms, Duration::from_millis(7));
    // Default.
    assert_eq!(settings.http.header_limit, 16 * 1024);
    assert_eq!(settings.redis.redis_prefix, "bookstore:ratelimit:");
}

#[test]
fn a_secret_file_and_a_value_are_one_setting_across_the_layers() {
    let flag_file = file_with("postgres://flag-file/books\n");
    let env_file = file_with("postgres://env-file/books\n");
    let config_file_file = file_with("postgres://config-file-file/books\n");

    // A file named by a flag beats a value from the environment (it did not use to).
    let settings = load(
        &["--database-url-file", path(&flag_file)],
        &[("DATABASE_URL", "postgres://env/books")],
    )
    .expect("valid");
    assert_eq!(
        secret(&settings.store.database_url),
        Some("postgres://flag-file/books")
    );
    assert!(
        settings.secret_sources[0]
            .to_string()
            .contains("the command line"),
        "{:?}",
        settings.secret_sources
    );

    // A value from a flag beats a file named in the environment.
    let settings = load(
        &["--database-url", "postgres://flag/books"],
        &[("DATABASE_URL_FILE", path(&env_file))],
    )
    .expect("valid");
    assert_eq!(
        secret(&settings.store.database_url),
        Some("postgres://flag/books")
    );

    // The environment's file beats the config file's value, and the config file's value
    // or file beats nothing.
    let config = file_with(&format!(
        "database_url = \"postgres://config/books\"\nkek_file = \"{}\"\n",
        path(&config_file_file)
    ));
    let settings = load(
        &["--config", path(&config)],
        &[("DATABASE_URL_FILE", path(&env_file))],
    )
    .expect("valid");
    assert_eq!(
        secret(&settings.store.database_url),
        Some("postgres://env-file/books")
    );
    assert_eq!(
        secret(&settings.auth.kek),
        Some("postgres://config-file-file/books")
    );
    let settings = load(&["--config", path(&config)], &[]).expect("valid");
    assert_eq!(
        secret(&settings.store.database_url),
        Some("postgres://config/books")
    );

    // Both in one layer: which one was meant is unclear.
    let err = load(
        &[],
        &[
            ("REDIS_URL", "redis://a"),
            ("REDIS_URL_FILE", path(&env_file)),
        ],
    )
    .expect_err("both");
    assert!(
        format!("{err:#}").contains("REDIS_URL and REDIS_URL_FILE are both set in the environment"),
        "{err:#}"
    );
}

#[test]
fn secrets_never_print() {
    let secret_file = file_with("postgres://u:hunter2@db/books\n");
    let config = file_with("admin_password = \"hunter2 hunter2\"\n");
    let settings = load(
        &[
            "--config",
            path(&config),
            "--redis-url",
            "redis://:hunter2@cache",
        ],
        &[
            ("DATABASE_URL_FILE", path(&secret_file)),
            ("BOOKSTORE_KEK", "aHVudGVyMg=="),
            ("BOOKSTORE_VAULT_ADDR", "http://127.0.0.1:8200"),
            ("VAULT_TOKEN", "hvs.hunter2"),
        ],
    )
    .expect("valid");
    assert_eq!(
        secret(&settings.store.database_url),
        Some("postgres://u:hunter2@db/books")
    );
    assert_eq!(
        secret(&settings.auth.admin_password),
        Some("hunter2 hunter2")
    );
    let printed = format!("{settings:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("aHVudGVyMg"), "{printed}");
    assert!(!format!("{:?}", settings.store.config()).contains("hunter2"));
    assert_eq!(settings.secret_sources.len(), 5);
    assert!(settings
        .secret_sources
        .iter()
        .all(|s| !s.to_string().contains("hunter2") && !s.to_string().contains("aHVudGVyMg")));

    // Nor does --help show a secret the config file holds.
    let command = file::apply(TestCli::command(), config.path()).expect("valid");
    let help = command.clone().render_long_help().to_string();
    assert!(!help.contains("hunter2"), "{help}");
}

#[test]
fn tls_and_gateway_settings() {
    let file = file_with(
        "tls_cert = \"/etc/bookstore/cert.pem\"\ntls_key = \"/etc/bookstore/key.pem\"\n\
         request_timeout = 10\nheader_limit = 4096\nkeepalive_timeout = 5\n\
         cors_origins = [\"https://shop.example\"]\n",
    );
    let settings = load(
        &["--config", path(&file), "--listen", "127.0.0.1:8443"],
        &[],
    )
    .expect("valid");
    assert_eq!(
        settings.tls.source().expect("valid"),
        Some(TlsSource::Files {
            cert: "/etc/bookstore/cert.pem".into(),
            key: "/etc/bookstore/key.pem".into()
        })
    );
    assert_eq!(
        settings.public_url(settings.server.listen),
        "https://127.0.0.1:8443"
    );
    assert_eq!(settings.http.request_timeout, Duration::from_secs(10));
    assert_eq!(settings.http.header_limit, 4096);
    assert_eq!(settings.http.keepalive_timeout, Duration::from_secs(5));
    assert_eq!(settings.http.client_header_timeout, Duration::from_secs(60));
    assert_eq!(settings.tls.tls_reload_interval, Duration::from_secs(5));
    assert_eq!(
        settings.http.cors_origins,
        CorsOrigins::List(vec!["https://shop.example".into()])
    );

    let defaults = load(&[], &[]).expect("valid");
    assert_eq!(defaults.tls.source().expect("valid"), None);
    assert_eq!(defaults.http.request_timeout, Duration::from_secs(30));
    assert_eq!(defaults.http.keepalive_timeout, Duration::from_secs(75));
    assert_eq!(defaults.http.cors_origins, CorsOrigins::None);

    for (args, needle) in [
        (&["--tls-cert", "c.pem"][..], "tls_key"),
        (
            &[
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem",
                "--tls-self-signed",
            ][..],
            "tls_self_signed",
        ),
        (&["--cors-origins", "shop.example"][..], "cors-origins"),
        (&["--header-limit", "10"][..], "header-limit"),
    ] {
        let err = load(args, &[]).expect_err(needle);
        assert!(format!("{err:#}").contains(needle), "{err:#}");
    }
}

#[test]
fn bad_settings_are_explained() {
    let file = file_with("colour = \"red\"\n");
    let err = load(&["--config", path(&file)], &[]).expect_err("unknown key");
    assert!(format!("{err:#}").contains("colour"), "{err:#}");

    // A bad value in the file names its key, not a flag the user never typed.
    for (content, needle) in [
        (
            "body_limit = \"ten\"\n",
            "body_limit: \"ten\" is not a whole number",
        ),
        ("import_limit = \"2TB\"\n", "unknown unit \"TB\""),
        ("import_limit = \"0MiB\"\n", "at least 1 byte"),
        (
            "request_timeout = 0\n",
            "request_timeout: must be at least 1 second",
        ),
        ("log_format = \"xml\"\n", "log_format:"),
        ("trusted_proxies = [\"proxy\"]\n", "trusted_proxies:"),
        ("[[trusted_issuers]]\nissuer = \"x\"\n", "trusted_issuers:"),
    ] {
        let file = file_with(content);
        let err = load(&["--config", path(&file)], &[]).expect_err(content);
        assert!(format!("{err:#}").contains(needle), "{content}: {err:#}");
    }

    let empty = file_with("");
    let err = load(&["--database-url-file", path(&empty)], &[]).expect_err("empty secret");
    assert!(err.to_string().contains("empty"), "{err:#}");
}

#[test]
fn rate_limits_and_proxies() {
    let settings = load(&[], &[]).expect("valid");
    let http = settings.http.config(false).expect("valid");
    assert_eq!(http.rate_limits, RateLimits::default());
    assert!(http.trusted_proxies.is_empty());
    assert!(settings.redis.settings().is_none());

    let file = file_with(
        "rate_limit_sign_in = \"5/min\"\nrate_limit_sign_in_burst = 3\n\
         rate_limit_user = \"10/s\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n\
         redis_url = \"redis://:hunter2@cache:6379/2\"\n\
         [[trusted_issuers]]\nissuer = \"https://idp.example\"\n\
         jwks_url = \"https://idp.example/jwks\"\naudience = \"shop\"\n",
    );
    let settings =
        load(&["--config", path(&file), "--rate-limit-user", "20/s"], &[]).expect("valid");
    let http = settings.http.config(false).expect("valid");
    assert_eq!(http.rate_limits.sign_in.rate().to_string(), "5/min");
    assert_eq!(http.rate_limits.sign_in.burst(), 3);
    assert_eq!(http.rate_limits.user.rate().to_string(), "20/s");
    assert_eq!(http.rate_limits.user.burst(), 200);
    assert!(!http.trusted_proxies.is_empty());
    assert_eq!(settings.auth.trusted_issuers.0[0].audience, "shop");
    let redis = settings.redis.settings().expect("redis");
    assert_eq!(redis.url, "redis://:hunter2@cache:6379/2");
    assert!(!format!("{settings:?}").contains("hunter2"));

    for (args, needle) in [
        (
            &["--rate-limit-anonymous", "lots"][..],
            "rate-limit-anonymous",
        ),
        (
            &["--rate-limit-user-burst", "0"][..],
            "rate-limit-user-burst",
        ),
        (
            &["--trusted-proxies", "10.0.0.0/8, proxy"][..],
            "trusted-proxies",
        ),
        (&["--forwarded-header", "x-real-ip"][..], "forwarded-header"),
    ] {
        let err = load(args, &[]).expect_err(needle);
        assert!(format!("{err:#}").contains(needle), "{err:#}");
    }
}

/// The README's configuration table is the contract: each of its flags, variables and keys
/// is a setting, and each setting is in it.
#[test]
fn the_readme_documents_every_setting_as_it_is() {
    let readme = include_str!("../../../../../README.md");
    let rows = |header: &str| -> Vec<&str> {
        readme
            .lines()
            .skip_while(|line| !line.starts_with(header))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect()
    };
    let mut table = rows("| flag | environment | config key |");
    assert!(table.len() > 30, "configuration table not found");
    // The `aws` feature's settings have a table of their own ("Running on AWS"), checked
    // when they exist.
    if cfg!(feature = "aws") {
        let aws = rows("| AWS flag | environment | config key |");
        assert!(aws.len() >= 4, "the AWS settings table not found");
        table.extend(aws);
    }
    let command = TestCli::command();
    let mut documented = Vec::new();
    for row in table {
        let cells: Vec<Vec<&str>> = row
            .split('|')
            .skip(1)
            .take(3)
            .map(|cell| cell.split('`').skip(1).step_by(2).collect())
            .collect();
        let (flags, envs, keys) = (&cells[0], &cells[1], &cells[2]);
        assert_eq!(flags.len(), envs.len(), "{row}");
        for (i, flag) in flags.iter().enumerate() {
            let long = flag.trim_start_matches("--");
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(long))
                .unwrap_or_else(|| panic!("{flag} is documented but not a setting"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(envs[i]),
                "{row}"
            );
            let id = arg.get_id().as_str();
            if id != "config" {
                let key = keys[i].trim_start_matches("[[").trim_end_matches("]]");
                assert_eq!(key, id, "{row}");
            }
            documented.push(id.to_owned());
        }
    }
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.get_long().is_some() && !matches!(id, "help" | "version") {
            assert!(
                documented.iter().any(|d| d == id),
                "--{} is not in the README's table",
                arg.get_long().unwrap_or_default()
            );
        }
    }
}

/// The README's example config files use only keys and values that the file layer takes.
#[test]
fn the_readme_example_config_files_are_valid() {
    let readme = include_str!("../../../../../README.md");
    let section = &readme[readme.find("## Configuration").expect("section")..];
    let end = section[1..].find("\n## ").expect("next section") + 1;
    let section = &section[..end];
    let examples: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .collect();
    assert!(examples.len() >= 2, "{examples:?}");
    for example in examples {
        let file = file_with(example);
        file::apply(TestCli::command(), file.path()).unwrap_or_else(|e| panic!("{e:#}\n{example}"));
    }
}

mod services;
