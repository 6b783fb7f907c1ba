//! Methods a path does not have: 405 with `Allow`, decided before authentication, so that
//! every caller (anonymous ones too) learns the same thing about the same path, and HEAD is
//! allowed wherever GET is (axum answers it as GET without the body).

use crate::error::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// The methods of each route, by its path template.
#[derive(Debug, Default, Clone)]
pub struct AllowedMethods(HashMap<String, Vec<Method>>);

impl AllowedMethods {
    /// The methods of every operation of `doc`, plus `extra` routes it does not describe.
    pub fn from_openapi(doc: &serde_json::Value, extra: &[(&str, Method)]) -> Self {
        let mut map: HashMap<String, Vec<Method>> = HashMap::new();
        let paths = doc.get("paths").and_then(serde_json::Value::as_object);
        for (path, item) in paths.into_iter().flatten() {
            let methods = map.entry(path.clone()).or_default();
            let operations = [
                ("get", Method::GET),
                ("put", Method::PUT),
                ("post", Method::POST),
                ("delete", Method::DELETE),
                ("patch", Method::PATCH),
                ("options", Method::OPTIONS),
                ("head", Method::HEAD),
            ];
            methods.extend(
                operations
                    .into_iter()
                    .filter(|(name, _)| item.get(*name).is_some())
                    .map(|(_, m)| m),
            );
        }
        for (path, method) in extra {
            map.entry((*path).to_owned())
                .or_default()
                .push(method.clone());
        }
        for methods in map.values_mut() {
            if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
                methods.push(Method::HEAD);
            }
        }
        Self(map)
    }

    /// `None` for routes it does not know: their own routing decides.
    pub fn allows(&self, route: &str, method: &Method) -> Option<bool> {
        self.0.get(route).map(|methods| methods.contains(method))
    }

    pub fn allow_header(&self, route: &str) -> String {
        const ORDER: [Method; 7] = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ];
        let methods = self.0.get(route).map(Vec::as_slice).unwrap_or_default();
        ORDER
            .iter()
            .filter(|m| methods.contains(m))
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub async fn layer(
    State(allowed): State<Arc<AllowedMethods>>,
    request: Request,
    next: Next,
) -> Response {
    match check(&allowed, &request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

/// The 405 answer of [`layer`], when the matched route does not take the request's method.
pub fn check(allowed: &AllowedMethods, request: &Request) -> Option<Response> {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str());
    if let Some(route) = route {
        if allowed.allows(route, request.method()) == Some(false) {
            let allow = allowed.allow_header(route);
            return Some(
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    format!(
                        "This path does not take {}; it takes {allow}.",
                        request.method()
                    ),
                )
                .with_header(
                    header::ALLOW,
                    HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static("")),
                )
                .into_response(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_goes_with_get_and_the_allow_header_is_ordered() {
        let doc = crate::openapi();
        let allowed = AllowedMethods::from_openapi(&doc, &[("/openapi.json", Method::GET)]);
        assert_eq!(allowed.allows("/healthz", &Method::HEAD), Some(true));
        assert_eq!(allowed.allows("/healthz", &Method::DELETE), Some(false));
        assert_eq!(allowed.allows("/openapi.json", &Method::HEAD), Some(true));
        assert_eq!(allowed.allows("/nowhere", &Method::GET), None);
        assert_eq!(allowed.allow_header("/books"), "GET, HEAD, POST");
        assert_eq!(
            allowed.allow_header("/books/{id}"),
            "GET, HEAD, PUT, PATCH, DELETE"
        );
    }
}
