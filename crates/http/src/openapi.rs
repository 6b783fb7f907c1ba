//! The top of the OpenAPI document; paths and schemas come from the route annotations.

use crate::error::PROBLEM_JSON;
use crate::version::{V1_MEDIA_TYPE, V2_MEDIA_TYPE};
use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr};
use utoipa::{Modify, OpenApi};

/// A problem-document answer.
pub fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// A success answer of the versioned API: the same body in whichever version `Accept` chose.
pub fn versioned_response(description: &str, schema: Ref) -> Response {
    let content = || ContentBuilder::new().schema(Some(schema.clone())).build();
    ResponseBuilder::new()
        .description(description)
        .content(V1_MEDIA_TYPE, content())
        .content(V2_MEDIA_TYPE, content())
        .build()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bookstore",
        description = "Catalog and stock of a bookstore. Sign in at `/auth/login` and send the \
            access token as `Authorization: Bearer …`; `admin` may change everything, `staff` \
            may read. Representations are versioned by `Accept`: \
            `application/vnd.bookstore.v1+json` (default) or \
            `application/vnd.bookstore.v2+json`. Errors are RFC 9457 problem documents. \
            Requests are rate-limited per client address, per user and, more strictly, for \
            sign-in; responses carry `RateLimit-Policy` and `RateLimit` \
            (draft-ietf-httpapi-ratelimit-headers), and a request over its limit gets 429 with \
            `Retry-After`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "books", description = "Books: create, read, update, delete, history"),
        (name = "stock", description = "Stock movements and reordering"),
        (name = "authors", description = "Authors and other contributors"),
        (name = "genres", description = "Genres, optionally nested"),
        (name = "auth", description = "Sign-in, tokens and key discovery"),
        (name = "users", description = "User management (admins)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every operation but the health probes may answer 429: adds that answer, once, as a shared
/// response with its headers. Runs on the whole document, after the routes are merged in.
pub fn document_rate_limits(openapi: &mut utoipa::openapi::OpenApi) {
    let header = |kind: Type, description: &str| {
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(kind))
            .description(Some(description))
            .build()
    };
    let rate_limited = ResponseBuilder::new()
        .description("Over a rate limit; see `Retry-After`.")
        .header(
            "Retry-After",
            header(Type::Integer, "Seconds to wait before trying again."),
        )
        .header(
            "RateLimit-Policy",
            header(
                Type::String,
                "The policy that applies, e.g. `\"anonymous\";q=200;w=2`.",
            ),
        )
        .header(
            "RateLimit",
            header(
                Type::String,
                "What is left of it, e.g. `\"anonymous\";r=0;t=1`.",
            ),
        )
        .content(
            crate::error::PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build();
    openapi
        .components
        .get_or_insert_with(Default::default)
        .responses
        .insert("RateLimited".to_owned(), rate_limited.into());
    for (path, item) in openapi.paths.paths.iter_mut() {
        if path == "/healthz" || path == "/readyz" {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("429".to_owned())
                .or_insert_with(|| Ref::from_response_name("RateLimited").into());
        }
    }
}

/// Answers the gateway layers can give on any route, added to every operation.
const GATEWAY_RESPONSES: [(&str, &str); 2] = [
    (
        "431",
        "Request header fields too large (over the configured header limit)",
    ),
    (
        "504",
        "The request was not done within the configured timeout and was abandoned",
    ),
];

pub fn add_gateway_responses(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, description) in GATEWAY_RESPONSES {
                let response = ResponseBuilder::new()
                    .description(description)
                    .content(
                        PROBLEM_JSON,
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build();
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert(RefOr::T(response));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_documents_the_gateway_answers() {
        let doc = crate::openapi();
        let json = serde_json::to_value(&doc).expect("json");
        assert!(json["components"]["schemas"]["Problem"].is_object());
        for (path, item) in json["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("item") {
                for status in ["431", "504"] {
                    assert_eq!(
                        operation["responses"][status]["content"]["application/problem+json"]
                            ["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}
