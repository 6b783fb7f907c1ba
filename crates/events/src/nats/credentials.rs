//! The servers and the credentials of a NATS URL. The client does not take credentials from
//! the URL by itself; they are taken out here, so that the addresses it logs carry none.

use async_nats::ServerAddr;
use std::str::FromStr;

#[derive(Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `nats://TOKEN@host`
    Token(String),
    /// `nats://user:password@host`
    UserPassword(String, String),
}

#[derive(Debug)]
pub struct Target {
    pub servers: Vec<ServerAddr>,
    pub auth: Auth,
}

/// `nats://[user:password@]host[:port]`, or several comma-separated (a cluster; the
/// credentials of the first that has some serve for all). The error names no credentials.
pub fn split(urls: &str) -> Result<Target, String> {
    let mut servers = Vec::new();
    let mut auth = Auth::None;
    for (i, text) in urls.split(',').map(str::trim).enumerate() {
        if text.is_empty() {
            continue;
        }
        let address = ServerAddr::from_str(text)
            .map_err(|_| format!("server {} of the list is not a NATS URL", i + 1))?;
        let user = address.username().map(decode);
        let password = address.password().map(decode);
        if auth == Auth::None {
            auth = match (user, password) {
                (Some(user), Some(password)) => Auth::UserPassword(user, password),
                (Some(token), None) => Auth::Token(token),
                _ => Auth::None,
            };
        }
        let mut url = address.into_inner();
        // Only URLs that cannot have credentials refuse these; a NATS URL has a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        servers.push(
            ServerAddr::from_url(url)
                .map_err(|_| format!("server {} of the list is not a NATS URL", i + 1))?,
        );
    }
    if servers.is_empty() {
        return Err("no server given".into());
    }
    Ok(Target { servers, auth })
}

/// Percent-decoding, as URLs encode reserved characters in user names and passwords.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                let value = hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let target = split("nats://bob:p%40ss%3Aword@nats.example:4222").expect("valid");
        assert_eq!(
            target.auth,
            Auth::UserPassword("bob".into(), "p@ss:word".into())
        );
        assert_eq!(target.servers.len(), 1);
        let shown = target.servers[0].as_url_str();
        assert!(!shown.contains("bob") && !shown.contains("ss"), "{shown}");
        assert_eq!(target.servers[0].port(), 4222);
    }

    #[test]
    fn a_user_alone_is_a_token_and_a_list_is_a_cluster() {
        let target = split("tls://s3cret@a:4222, nats://b").expect("valid");
        assert_eq!(target.auth, Auth::Token("s3cret".into()));
        assert_eq!(target.servers.len(), 2);
        assert!(target.servers[0].tls_required());
        assert_eq!(split("127.0.0.1:4222").expect("host:port").auth, Auth::None);
    }

    #[test]
    fn errors_name_no_credentials() {
        let err = split("http://bob:secret@host").expect_err("not NATS");
        assert!(!err.contains("secret"), "{err}");
        assert!(split(" , ").is_err());
    }
}
