//! The top of the OpenAPI document; paths and schemas come from the route annotations, the
//! answers every operation shares from here, and the input rules and examples from
//! [`constraints`] and [`examples`].

mod constraints;
mod examples;
mod inventory;
mod webhooks;

use crate::error::PROBLEM_JSON;
use crate::version::{V1_MEDIA_TYPE, V2_MEDIA_TYPE};
use axum::http::Method;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
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
            `Retry-After`. Every `GET` also answers `HEAD` (the same status and headers, no \
            body); a method a path does not have answers 405 with `Allow`. JSON bodies are \
            objects; unknown fields and query parameters are refused with 422, whatever their \
            value."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "books", description = "Books: create, read, update, delete, history"),
        (name = "stock", description = "Stock movements and reordering, stock per location"),
        (name = "locations", description = "Where stock is kept: stores, warehouses, shelves inside them"),
        (name = "stocktakes", description = "Counts of a location, reviewed and committed as `count` movements"),
        (name = "authors", description = "Authors and other contributors"),
        (name = "genres", description = "Genres, optionally nested"),
        (name = "auth", description = "Sign-in, tokens and key discovery"),
        (name = "users", description = "User management (admins)"),
        (name = "webhooks", description = "Signed event deliveries to your URLs (admins)"),
        (name = "imports", description = "Imports of catalog files, CSV and ONIX (admins)"),
        (name = "audit", description = "The security audit log (admins)"),
        (name = "events", description = "The published domain events, live (Server-Sent Events)"),
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

/// The `Consistency-Token` header (`crate::consistency`): answered by successful writes,
/// taken by reads.
pub fn document_consistency_tokens(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::Required;
    let schema = |empty_is_none: bool| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(if empty_is_none {
                "^([0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8})?$"
            } else {
                "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"
            }))
    };
    let answered = HeaderBuilder::new()
        .schema(schema(false))
        .description(Some(
            "The position of the primary's write-ahead log after this write, when the \
             service runs with read replicas or a cache shared by several processes. Send it \
             back as `Consistency-Token` on reads to see this write (read-your-writes).",
        ))
        .build();
    let taken = ParameterBuilder::new()
        .name("Consistency-Token")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .schema(Some(schema(true)))
        .description(Some(
            "A token a write answered with: the read is served only from data that includes \
             that write (a read replica that has replayed it, or the primary; a cache entry \
             read after it). Without it (or empty), a read may come from a replica up to \
             `BOOKSTORE_READ_MAX_LAG` behind.",
        ))
        .build();
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in operations_of(item) {
            if method == Method::GET {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(taken.clone());
                operation
                    .responses
                    .responses
                    .entry("400".to_owned())
                    .or_insert_with(|| {
                        RefOr::T(problem_response(
                            "A malformed parameter or header (`Consistency-Token`)",
                        ))
                    });
                continue;
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response
                        .headers
                        .insert("Consistency-Token".to_owned(), answered.clone());
                }
            }
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

/// An operation of the document with what decides its shared answers.
fn operations_of(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::PUT, &mut item.put),
        (Method::POST, &mut item.post),
        (Method::DELETE, &mut item.delete),
        (Method::PATCH, &mut item.patch),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|op| (method, op)))
}

/// Adds the answers the shared layers and extractors give, to exactly the operations that
/// can get them: 401 (with `WWW-Authenticate`) wherever [`crate::auth::access`] asks for a
/// token, 403 where it asks for an admin, 406 and the versioned success types on the
/// versioned API (`versioned` holds its paths), 400 for a path id that is not a UUID, 400,
/// 413, 415 and 422 wherever a JSON body is read, 422 wherever query parameters are read.
pub fn describe_answers(doc: &mut utoipa::openapi::OpenApi, versioned: &[String]) {
    let components = doc.components.get_or_insert_with(Default::default);
    let challenge = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "`Bearer realm=\"bookstore\"`, with `error=\"invalid_token\"` when a token was sent \
             and refused, or `error=\"insufficient_scope\"` on 403",
        ))
        .build();
    let mut unauthorized = problem_response(
        "No access token, or one that is invalid, expired or revoked; see `WWW-Authenticate`",
    );
    unauthorized
        .headers
        .insert("WWW-Authenticate".to_owned(), challenge.clone());
    let mut forbidden = problem_response("Signed in, but only admins may do this");
    forbidden
        .headers
        .insert("WWW-Authenticate".to_owned(), challenge);
    for (name, response) in [
        ("Unauthorized", unauthorized),
        ("Forbidden", forbidden),
        (
            "NotAcceptable",
            problem_response("None of the media types in `Accept` is served; see `supported`"),
        ),
        (
            "MalformedBody",
            problem_response("The body is not valid JSON"),
        ),
        (
            "BodyTooLarge",
            problem_response("The body is larger than the configured limit"),
        ),
        (
            "UnsupportedMediaType",
            problem_response("The body is not sent as JSON (`Content-Type: application/json`)"),
        ),
        ("NotAnId", problem_response("The path id is not a UUID")),
    ] {
        components
            .responses
            .insert(name.to_owned(), response.into());
    }
    let shared = |name: &str| RefOr::Ref(Ref::from_response_name(name));
    for (path, item) in doc.paths.paths.iter_mut() {
        let is_versioned = versioned.iter().any(|p| p == path);
        for (method, operation) in operations_of(item) {
            let access = crate::auth::access(&method, Some(path));
            let has_body = operation.request_body.is_some();
            let has_query = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query));
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, response: RefOr<Response>| {
                responses.entry(status.to_owned()).or_insert(response);
            };
            if access != crate::auth::Access::Public {
                add("401", shared("Unauthorized"));
            }
            if access == crate::auth::Access::Admin {
                add("403", shared("Forbidden"));
            }
            if is_versioned {
                add("406", shared("NotAcceptable"));
            }
            if path.contains("{id}") {
                add("400", shared("NotAnId"));
            }
            if has_body {
                add("400", shared("MalformedBody"));
                add("413", shared("BodyTooLarge"));
                add("415", shared("UnsupportedMediaType"));
                add(
                    "422",
                    problem_response("Invalid or unknown fields; `errors` names each").into(),
                );
            }
            if has_query {
                add(
                    "422",
                    problem_response("Invalid or unknown query parameters; `errors` names each")
                        .into(),
                );
            }
            if is_versioned {
                version_success_types(responses);
            }
        }
    }
}

/// The versioned API answers in the media type of the version negotiated, never in plain
/// `application/json`.
fn version_success_types(responses: &mut std::collections::BTreeMap<String, RefOr<Response>>) {
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with('2') {
            continue;
        }
        if let Some(content) = response.content.shift_remove("application/json") {
            response
                .content
                .insert(V1_MEDIA_TYPE.to_owned(), content.clone());
            response.content.insert(V2_MEDIA_TYPE.to_owned(), content);
        }
    }
}

/// The finished document as served: the input rules and the examples written in. (As JSON:
/// utoipa's types cannot hold every JSON Schema construct the rules use, `not` for one.)
pub fn add_rules_and_examples(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    constraints::apply(&mut value);
    examples::apply(&mut value);
    webhooks::apply(&mut value);
    value
}

#[cfg(test)]
mod tests {
    use crate::version::{V1_MEDIA_TYPE, V2_MEDIA_TYPE};

    #[test]
    fn every_operation_documents_the_gateway_answers() {
        let json = crate::openapi();
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

    fn document() -> serde_json::Value {
        crate::openapi()
    }

    fn each_operation(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("item") {
                all.push((path.clone(), method.clone(), operation.clone()));
            }
        }
        all
    }

    #[test]
    fn protected_operations_document_401_and_admin_ones_403() {
        let doc = document();
        let challenge =
            &doc["components"]["responses"]["Unauthorized"]["headers"]["WWW-Authenticate"];
        assert!(challenge.is_object());
        for (path, method, operation) in each_operation(&doc) {
            let method_upper: axum::http::Method = method.to_uppercase().parse().expect("method");
            let access = crate::auth::access(&method_upper, Some(&path));
            let responses = &operation["responses"];
            if access != crate::auth::Access::Public {
                assert!(responses["401"].is_object(), "{method} {path} 401");
            }
            assert_eq!(
                responses["403"].is_object(),
                access == crate::auth::Access::Admin || path == "/users",
                "{method} {path} 403"
            );
        }
    }

    #[test]
    fn the_versioned_api_answers_in_versioned_media_types() {
        let doc = document();
        for (path, method, operation) in each_operation(&doc) {
            // The export chooses CSV or NDJSON, not a version.
            let versioned = ["/books", "/authors", "/genres"]
                .iter()
                .any(|p| path.starts_with(p))
                && path != "/books/export";
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let Some(content) = response["content"].as_object() else {
                    continue;
                };
                if status.starts_with('2') && versioned {
                    assert!(
                        content.contains_key(V1_MEDIA_TYPE),
                        "{method} {path} {status}"
                    );
                    assert!(
                        content.contains_key(V2_MEDIA_TYPE),
                        "{method} {path} {status}"
                    );
                    assert!(!content.contains_key("application/json"), "{method} {path}");
                }
            }
            if versioned {
                assert!(
                    operation["responses"]["406"].is_object(),
                    "{method} {path} 406"
                );
            }
        }
    }

    #[test]
    fn bodies_and_queries_document_their_refusals() {
        let doc = document();
        for (path, method, operation) in each_operation(&doc) {
            let responses = &operation["responses"];
            if operation["requestBody"].is_object() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses[status].is_object(), "{method} {path} {status}");
                }
            }
            let has_query = operation["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            if has_query {
                assert!(responses["422"].is_object(), "{method} {path} 422");
            }
            if path.contains("{id}") {
                assert!(responses["400"].is_object(), "{method} {path} 400");
            }
        }
    }

    #[test]
    fn the_rules_add_no_null_members() {
        fn walk(value: &serde_json::Value, at: &str) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, member) in map {
                        // Values (enums, examples) may hold null; the document's members may not.
                        if ["enum", "examples", "example", "const", "default"]
                            .contains(&key.as_str())
                        {
                            continue;
                        }
                        assert!(!member.is_null(), "{at}/{key} is null");
                        walk(member, &format!("{at}/{key}"));
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, at)),
                _ => {}
            }
        }
        walk(&document(), "");
    }

    #[test]
    fn inputs_carry_the_rules_the_server_enforces() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["BookInput"]["required"],
            serde_json::json!(["isbn", "title"])
        );
        assert_eq!(schemas["BookInput"]["properties"]["isbn"]["type"], "string");
        assert_eq!(
            schemas["BookInput"]["properties"]["published_year"]["maximum"],
            9999
        );
        assert_eq!(
            schemas["AuthorInput"]["required"],
            serde_json::json!(["name"])
        );
        assert!(schemas["AuthorPatch"]["required"].is_null());
        assert_eq!(
            schemas["AuthorPatch"]["properties"]["name"]["type"],
            "string"
        );
        assert_eq!(
            schemas["CreateUserInput"]["properties"]["role"]["enum"],
            serde_json::json!(["admin", "staff"])
        );
        assert_eq!(
            schemas["CreateUserInput"]["properties"]["password"]["minLength"],
            12
        );
        let kinds: Vec<&str> = schemas["StockMovementInput"]["oneOf"]
            .as_array()
            .expect("kinds")
            .iter()
            .flat_map(|v| {
                let kind = &v["properties"]["kind"];
                kind["enum"]
                    .as_array()
                    .map(|e| e.iter().filter_map(|k| k.as_str()).collect::<Vec<_>>())
                    .unwrap_or_else(|| kind["const"].as_str().into_iter().collect())
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "receive",
                "sale",
                "return",
                "adjustment",
                "count",
                "transfer"
            ]
        );
        let eur_decimal = schemas["PriceInput"]["oneOf"]
            .as_array()
            .expect("variants")
            .iter()
            .find(|v| {
                v["properties"]["amount"].is_object()
                    && v["properties"]["currency"]["enum"]
                        .as_array()
                        .is_some_and(|c| c.contains(&"EUR".into()))
            })
            .expect("EUR decimal");
        assert_eq!(
            eur_decimal["properties"]["amount"]["pattern"],
            "^[0-9]{1,10}(\\.[0-9]{1,2})?$"
        );
        let limit = doc["paths"]["/books"]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "limit")
            .expect("limit")
            .clone();
        assert_eq!(limit["schema"]["minimum"], 1);
        assert_eq!(limit["schema"]["maximum"], 100);
        assert!(schemas["BookInput"]["examples"][0]["isbn"].is_string());
    }
}
