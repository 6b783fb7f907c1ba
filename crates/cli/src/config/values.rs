//! Parsers of setting values, shared by flags, environment variables and the config file
//! (whose values go through the same parsers; see `file`).

use bookstore_auth::TrustedIssuer;
use bookstore_http::client_ip::TrustedProxies;
use bookstore_http::gateway::CorsOrigins;
use ipnet::IpNet;
use secrecy::SecretString;
use std::convert::Infallible;
use std::time::Duration;

/// A number of seconds, at least one.
pub fn seconds(text: &str) -> Result<Duration, String> {
    match whole(text)? {
        0 => Err("must be at least 1 second".to_owned()),
        n => Ok(Duration::from_secs(n)),
    }
}

/// A number of seconds, zero allowed.
pub fn seconds_or_zero(text: &str) -> Result<Duration, String> {
    whole(text).map(Duration::from_secs)
}

/// A number of milliseconds, at least one.
pub fn millis(text: &str) -> Result<Duration, String> {
    match whole(text)? {
        0 => Err("must be at least 1 millisecond".to_owned()),
        n => Ok(Duration::from_millis(n)),
    }
}

/// A span of time: a whole number and a unit, `d`, `h`, `m`, `s` or `ms` (`7d`, `36h`,
/// `90m`, `30s`, `500ms`); more than zero.
/// Days as a bare number (`365`), or a span with its unit (`365d`, `8760h`).
pub fn days_or_span(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return span(&format!("{trimmed}d"));
    }
    span(text)
}

pub fn span(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: d, h, m, s or ms (as in 7d or 30s)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number and a unit (as in 7d or 30s)"))?;
    let seconds = |per: u64| {
        n.checked_mul(per)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long"))
    };
    let span = match unit.trim() {
        "d" => seconds(24 * 60 * 60)?,
        "h" => seconds(60 * 60)?,
        "m" => seconds(60)?,
        "s" => seconds(1)?,
        "ms" => Duration::from_millis(n),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use d, h, m, s or ms"
            ))
        }
    };
    if span.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(span)
}

/// A size or count of at least `MIN`.
pub fn at_least<const MIN: usize>(text: &str) -> Result<usize, String> {
    let n = usize::try_from(whole(text)?).map_err(|e| e.to_string())?;
    if n < MIN {
        return Err(format!("must be at least {MIN}"));
    }
    Ok(n)
}

/// A size in bytes: a whole number, optionally with `KiB`, `MiB` or `GiB`; at least one.
pub fn size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n = whole(number)?;
    let per: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use bytes, KiB, MiB or GiB"
            ))
        }
    };
    match n.checked_mul(per) {
        Some(0) => Err("must be at least 1 byte".to_owned()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text:?} is too large")),
    }
}

fn whole(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number"))
}

/// A secret: wrapped as soon as it is read, so that it never prints.
pub fn secret(text: &str) -> Result<SecretString, Infallible> {
    Ok(SecretString::from(text.to_owned()))
}

/// Browser origins, comma-separated, or `*`.
pub fn cors_origins(text: &str) -> Result<CorsOrigins, String> {
    let items: Vec<String> = text.split(',').map(str::to_owned).collect();
    CorsOrigins::parse(&items)
}

/// Addresses or CIDR networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(pub Vec<IpNet>);

/// Addresses or CIDR networks, comma-separated.
pub fn networks(text: &str) -> Result<Networks, String> {
    TrustedProxies::parse_networks(&[text]).map(Networks)
}

/// Outside issuers whose tokens are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedIssuers(pub Vec<TrustedIssuer>);

/// A JSON list of issuers (the config file's `[[trusted_issuers]]` tables arrive as JSON too).
pub fn trusted_issuers(text: &str) -> Result<TrustedIssuers, String> {
    if text.trim().is_empty() {
        return Ok(TrustedIssuers::default());
    }
    serde_json::from_str(text)
        .map(TrustedIssuers)
        .map_err(|e| format!("must be a JSON list of issuers: {e}"))
}
