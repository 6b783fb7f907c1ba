//! The top of the OpenAPI document; paths and schemas come from the route annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bookstore",
        description = "Catalog and stock of a bookstore. Sign in at `/auth/login` and send the \
            access token as `Authorization: Bearer …`; `admin` may change everything, `staff` \
            may read. Representations are versioned by `Accept`: \
            `application/vnd.bookstore.v1+json` (default) or \
            `application/vnd.bookstore.v2+json`. Errors are RFC 9457 problem documents."
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
