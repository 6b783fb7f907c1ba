//! SSRF protection: webhook requests connect only to public addresses unless private targets
//! are allowed. The check is made on the addresses the connection will use (this resolver's
//! answer is all the HTTP client connects to), so a name that resolves to an internal address
//! — first or after a re-binding — is refused at delivery. IP-literal URLs skip name
//! resolution and are checked by [`literal_refusal`].

use bookstore_core::webhook::refused_reason;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;
use url::{Host, Url};

/// A target the guard refused; the delivery fails at once with this reason.
#[derive(Debug, Error)]
#[error("refused target: {0}")]
pub struct RefusedTarget(pub String);

/// Resolves with the system resolver, then drops every address [`refused_reason`] refuses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(resolve_guarded(
            name.as_str().to_owned(),
            self.allow_private,
        ))
    }
}

async fn resolve_guarded(host: String, allow_private: bool) -> Result<Addrs, BoxError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    if allow_private {
        return Ok(Box::new(found.into_iter()));
    }
    let mut refused = Vec::new();
    let mut allowed = Vec::new();
    for addr in found {
        match refused_reason(addr.ip()) {
            Some(reason) => refused.push(format!("{} is {reason}", addr.ip())),
            None => allowed.push(addr),
        }
    }
    if allowed.is_empty() {
        let detail = if refused.is_empty() {
            "no address".to_owned()
        } else {
            refused.join(", ")
        };
        return Err(Box::new(RefusedTarget(format!(
            "{host} resolves to {detail}; only public addresses are allowed \
             (BOOKSTORE_WEBHOOK_ALLOW_PRIVATE)"
        ))));
    }
    Ok(Box::new(allowed.into_iter()))
}

/// Why a URL whose host is an IP literal is refused (it never reaches the resolver).
pub fn literal_refusal(url: &Url, allow_private: bool) -> Option<RefusedTarget> {
    if allow_private {
        return None;
    }
    let ip = match url.host()? {
        Host::Domain(_) => return None,
        Host::Ipv4(ip) => IpAddr::V4(ip),
        Host::Ipv6(ip) => IpAddr::V6(ip),
    };
    refused_reason(ip).map(|reason| {
        RefusedTarget(format!(
            "{ip} is {reason}; only public addresses are allowed \
             (BOOKSTORE_WEBHOOK_ALLOW_PRIVATE)"
        ))
    })
}

/// The guard's refusal inside an HTTP client error, if that is what it is.
pub fn refusal_in(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<RefusedTarget>() {
            return Some(refused.to_string());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    async fn resolve(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
        let name = Name::from_str(host).map_err(|_| "bad name".to_owned())?;
        GuardedResolver { allow_private }
            .resolve(name)
            .await
            .map(Iterator::collect)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_name_of_loopback_is_refused_unless_allowed() {
        let err = resolve("localhost", false).await.expect_err("refused");
        assert!(err.contains("loopback"), "{err}");
        let addrs = resolve("localhost", true).await.expect("allowed");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn ip_literals_are_checked_without_resolving() {
        for url in [
            "http://127.0.0.1/",
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            let url = Url::parse(url).expect("url");
            assert!(literal_refusal(&url, false).is_some(), "{url}");
            assert!(literal_refusal(&url, true).is_none(), "{url}");
        }
        let public = Url::parse("http://93.184.216.34/").expect("url");
        assert!(literal_refusal(&public, false).is_none());
    }

    #[test]
    fn a_refusal_is_found_through_the_error_chain() {
        #[derive(Debug, Error)]
        #[error("outer")]
        struct Outer(#[source] RefusedTarget);
        let err = Outer(RefusedTarget("x is a loopback address".into()));
        assert_eq!(
            refusal_in(&err).as_deref(),
            Some("refused target: x is a loopback address")
        );
    }
}
