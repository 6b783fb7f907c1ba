//! The HTTP adapter: routes, versioned DTOs, problem+json errors, OpenAPI and API docs.
//!
//! [`router`] builds the whole application behind its [`gateway`] layers; [`server`] serves
//! it, over plain TCP or TLS ([`tls`]), with graceful shutdown.

pub mod auth;
pub mod cache;
pub mod caller;
pub mod client_ip;
pub mod consistency;
pub mod dto;
pub mod error;
pub mod etag;
pub mod events;
pub mod export;
pub mod extract;
pub mod fast;
pub mod gateway;
pub mod idempotency;
pub mod imports;
pub mod metrics;
mod openapi;
pub mod patch;
pub mod ratelimit;
pub mod refresh_cookie;
pub mod request_id;
pub mod response;
pub mod routes;
pub mod server;
pub mod state;
pub mod tls;
pub mod trace_context;
pub mod ui;
pub mod version;

pub use state::AppState;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use client_ip::TrustedProxies;
use error::ApiError;
use ratelimit::{Limits, RateLimits};
use routes::named::{self, Authors, Genres, Locations};
use routes::{
    audit as audit_routes, auth as auth_routes, books, events as event_routes, health,
    imports as import_routes, reports, stock, stocktakes, users, webhooks, wellknown,
};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The budgets of the rate limits.
    pub rate_limits: RateLimits,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: TrustedProxies,
    /// A request not answered within this time gets 504.
    pub request_timeout: Duration,
    /// Largest total size of a request's header names and values, in bytes (431 above).
    pub header_limit: usize,
    /// Browser origins allowed to call the API.
    pub cors_origins: gateway::CorsOrigins,
    /// Send `Strict-Transport-Security` (when serving TLS).
    pub hsts: bool,
    /// Record the HTTP series (`BOOKSTORE_METRICS`); needs the recorder of [`metrics::install`].
    pub metrics: bool,
    /// Answer cached reads by the fast path ([`fast`]) when they qualify
    /// (`BOOKSTORE_FAST_PATH`); off, every request goes through the router and its layers.
    pub fast_path: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            rate_limits: RateLimits::default(),
            trusted_proxies: TrustedProxies::default(),
            request_timeout: Duration::from_secs(30),
            header_limit: 16 * 1024,
            cors_origins: gateway::CorsOrigins::None,
            hsts: false,
            metrics: false,
            fast_path: true,
        }
    }
}

/// The versioned API: every route here negotiates its representation from `Accept`.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(books::list_books, books::create_book))
        .routes(routes!(
            books::get_book,
            books::replace_book,
            books::patch_book,
            books::delete_book
        ))
        .routes(routes!(books::get_book_by_isbn))
        .routes(routes!(books::book_history))
        .routes(routes!(stock::record_movement, stock::list_movements))
        .routes(routes!(stock::low_stock))
        .routes(routes!(stock::book_stock))
        .routes(routes!(
            stocktakes::open_stocktake,
            stocktakes::list_stocktakes
        ))
        .routes(routes!(
            stocktakes::get_stocktake,
            stocktakes::cancel_stocktake
        ))
        .routes(routes!(stocktakes::record_count))
        .routes(routes!(stocktakes::commit_stocktake))
        .merge(named::routes::<Authors>())
        .merge(named::routes::<Genres>())
        .merge(named::routes::<Locations>())
}

/// Streamed reads of many books: each chooses its media type (CSV, NDJSON, JSON) itself.
fn reports_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reports::export_books))
        .routes(routes!(reports::reorder_suggestions))
}

/// Sign-in and user management: not versioned by `Accept`.
fn auth_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth_routes::login))
        .routes(routes!(auth_routes::refresh))
        .routes(routes!(auth_routes::logout))
        .routes(routes!(auth_routes::me))
        .routes(routes!(auth_routes::change_password))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(
            users::get_user,
            users::update_user,
            users::disable_user
        ))
        .routes(routes!(users::unlock_user))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::update_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::ping))
        .routes(routes!(audit_routes::list_audit))
        .routes(routes!(wellknown::jwks))
        .routes(routes!(wellknown::openid_configuration))
}

/// The published events, live: not versioned by `Accept` (the events carry their own schema).
/// Imports, which answer JSON or CSV as `Accept` asks.
fn events_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(event_routes::stream_events))
        .routes(routes!(import_routes::create_import))
        .routes(routes!(import_routes::get_import))
        .routes(routes!(import_routes::list_import_errors))
}

fn operations_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}

/// The OpenAPI document of everything [`router`] serves, as it is served.
pub fn openapi() -> serde_json::Value {
    let mut doc = openapi::ApiDoc::openapi();
    let api = api_routes().into_openapi();
    let versioned: Vec<String> = api.paths.paths.keys().cloned().collect();
    doc.merge(api);
    doc.merge(reports_routes().into_openapi());
    doc.merge(auth_routes().into_openapi());
    doc.merge(events_routes().into_openapi());
    doc.merge(operations_routes().into_openapi());
    openapi::document_rate_limits(&mut doc);
    openapi::add_gateway_responses(&mut doc);
    openapi::document_consistency_tokens(&mut doc);
    openapi::describe_answers(&mut doc, &versioned);
    openapi::add_rules_and_examples(&doc)
}

/// The whole application, behind the gateway layers.
pub fn router(state: AppState, config: &HttpConfig) -> Router {
    service(state, config).router
}

/// [`router`], and beside it the fast path of cached reads that shares its settings and state
/// ([`fast`]; `None` when off, without the book cache, or with CORS): what
/// [`server::serve`] serves.
pub fn service(state: AppState, config: &HttpConfig) -> server::Service {
    let (api, _) = api_routes().split_for_parts();
    let (reports, _) = reports_routes().split_for_parts();
    let (auth, _) = auth_routes().split_for_parts();
    let (events, _) = events_routes().split_for_parts();
    let (ops, _) = operations_routes().split_for_parts();
    let doc = openapi();
    // Swagger UI's routes are not in the document; they are pages and files to GET.
    let allowed = Arc::new(gateway::methods::AllowedMethods::from_openapi(
        &doc,
        &[
            ("/openapi.json", Method::GET),
            ("/docs", Method::GET),
            ("/docs/", Method::GET),
            ("/docs/{*rest}", Method::GET),
            ("/", Method::GET),
            (ui::ASSETS_ROUTE, Method::GET),
        ],
    ));
    let limits = Arc::new(Limits::new(
        state.limiter.clone(),
        config.rate_limits.clone(),
    ));
    let proxies = Arc::new(config.trusted_proxies.clone());

    // Layers run from the last added to the first: the gateway layers (request id, trace
    // context, timeout, headers...), client address, ..., authentication, then the rate limit
    // that knows the verified principal.
    // Each group of layers wraps every route once (`Router::layer` boxes the route once per
    // call, and every layer of a request clones the boxed routes beneath it). Within a group
    // the first layer listed runs first. The steps that are plain functions run as one
    // `from_fn` layer per group ([`route_steps`], [`edge_steps`]): each `from_fn` layer costs
    // a request a clone of every layer beneath it and two boxes.
    let route_state = Arc::new(RouteSteps {
        allowed,
        state: state.clone(),
        limits: limits.clone(),
    });
    let edge_state = Arc::new(EdgeSteps {
        proxies: proxies.clone(),
        limits: limits.clone(),
    });
    let steps = gateway::Steps::new(config);
    let fast = (config.fast_path && matches!(config.cors_origins, gateway::CorsOrigins::None))
        .then(|| fast::FastPath::new(steps.clone(), state.clone(), limits, proxies))
        .flatten()
        .map(Arc::new);
    let app = Router::new()
        .merge(api.layer(middleware::from_fn(version::layer)))
        .merge(reports)
        .merge(auth)
        .merge(events)
        .merge(ops)
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", doc))
        .route("/", axum::routing::get(ui::index))
        .route(ui::ASSETS_ROUTE, axum::routing::get(ui::asset))
        .layer(middleware::from_fn_with_state(route_state, route_steps))
        .fallback(not_found)
        .layer(
            ServiceBuilder::new()
                // Outside the client address step, which does nothing to responses.
                .layer(CatchPanicLayer::custom(on_panic))
                .layer(DefaultBodyLimit::max(config.body_limit))
                .layer(middleware::from_fn_with_state(edge_state, edge_steps)),
        )
        .with_state(state);
    server::Service {
        router: gateway::layers_with(app, steps, config),
        fast,
    }
}

/// What [`route_steps`] needs.
struct RouteSteps {
    allowed: Arc<gateway::methods::AllowedMethods>,
    state: AppState,
    limits: Arc<Limits>,
}

/// Before every route (not the fallback), in this order: the route's methods (405), the
/// caller's token and role, the caller's rate limit, the read scope of the consistency token.
async fn route_steps(
    State(steps): State<Arc<RouteSteps>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refusal) = gateway::methods::check(&steps.allowed, &request) {
        return refusal;
    }
    let steps = &*steps;
    auth::authenticate(&steps.state, request, |request| async move {
        ratelimit::count(&steps.limits, request, |request| async move {
            consistency::scope(&steps.state, request, |request| next.run(request)).await
        })
        .await
    })
    .await
}

/// What [`edge_steps`] needs.
struct EdgeSteps {
    proxies: Arc<TrustedProxies>,
    limits: Arc<Limits>,
}

/// Before everything but the gateway's layers, in this order: the client's address, a
/// problem document for axum's bare errors, the address's rate limit of the requests that
/// [`route_steps`] did not count.
async fn edge_steps(
    State(steps): State<Arc<EdgeSteps>>,
    mut request: Request,
    next: Next,
) -> Response {
    client_ip::resolve(&steps.proxies, &mut request);
    let response =
        ratelimit::count_if_not_yet(&steps.limits, request, |request| next.run(request)).await;
    problem_for_bare_error(response)
}

async fn not_found() -> ApiError {
    ApiError::not_found("There is nothing at this path.")
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal().into_response()
}

/// Errors that axum itself answers (405, for one) come without a body: give them a problem
/// document like every other error, keeping their headers (`Allow`).
pub(crate) fn problem_for_bare_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "This method is not allowed here; see Allow.",
        _ => "The request failed.",
    };
    let (parts, _) = response.into_parts();
    let mut problem = ApiError::new(status, "http", detail).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(error::PROBLEM_JSON),
    );
    problem
}
