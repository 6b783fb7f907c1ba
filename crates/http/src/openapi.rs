//! The top of the OpenAPI document; paths and schemas come from the route annotations.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bookstore",
        description = "Catalog and stock of a bookstore. Representations are versioned by \
            `Accept`: `application/vnd.bookstore.v1+json` (default) or \
            `application/vnd.bookstore.v2+json`. Errors are RFC 9457 problem documents."
    ),
    tags(
        (name = "books", description = "Books: create, read, update, delete, history"),
        (name = "authors", description = "Authors and other contributors"),
        (name = "genres", description = "Genres, optionally nested"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;
