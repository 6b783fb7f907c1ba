//! The OpenAPI operations of a named resource, built from its [`Named`] description. The
//! answers every operation shares (401, 403, 406, 429...) are added to the whole document by
//! [`crate::openapi`].

use super::Named;
use crate::dto::page::PageDto;
use crate::openapi::{problem_response, versioned_response};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Ref, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Required, ResponseBuilder};
use utoipa::{IntoParams, PartialSchema, ToSchema};

type Schemas = Vec<(String, RefOr<Schema>)>;

/// The collection's operations, the item's, and the schemas they name.
pub fn operations<R: Named>(collection: &str, item: &str) -> (Paths, Paths, Schemas) {
    let tag = R::COLLECTION;
    let one = R::SINGULAR;
    let dto = R::Dto::name().into_owned();
    let input = R::Input::name().into_owned();
    let page = format!("PageDto_{dto}");
    let mut schemas: Schemas = vec![(page.clone(), <PageDto<R::Dto>>::schema())];
    R::Dto::schemas(&mut schemas);
    schemas.push((dto.clone(), R::Dto::schema()));
    R::Input::schemas(&mut schemas);
    schemas.push((input.clone(), R::Input::schema()));
    let body = |content_type: &str| {
        RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content(
                content_type,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(&input)))
                    .build(),
            )
            .build()
    };
    let id = ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(format!("The {one}'s id (a UUID)")))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build();

    let mut list_paths = Paths::new();
    list_paths.add_path_operation(
        collection,
        vec![HttpMethod::Get],
        OperationBuilder::new()
            .tag(tag)
            .operation_id(Some(format!("list_{tag}")))
            .summary(Some(R::LIST_SUMMARY))
            .parameters(Some(R::ListParams::into_params(|| {
                Some(ParameterIn::Query)
            })))
            .response(
                "200",
                versioned_response(&format!("A page of {tag}"), Ref::from_schema_name(&page)),
            )
            .response("422", problem_response("Invalid parameter")),
    );
    list_paths.add_path_operation(
        collection,
        vec![HttpMethod::Post],
        OperationBuilder::new()
            .tag(tag)
            .operation_id(Some(format!("create_{one}")))
            .summary(Some(format!("Create {}.", R::A_SINGULAR)))
            .request_body(Some(body("application/json")))
            .response(
                "201",
                versioned_response("Created; `Location` names it", Ref::from_schema_name(&dto)),
            )
            .response(
                "409",
                problem_response(&format!(
                    "{} with this name exists",
                    capitalized(R::A_SINGULAR)
                )),
            )
            .response("422", problem_response("Invalid fields")),
    );

    let mut item_paths = Paths::new();
    item_paths.add_path_operation(
        item,
        vec![HttpMethod::Get],
        OperationBuilder::new()
            .tag(tag)
            .operation_id(Some(format!("get_{one}")))
            .summary(Some(format!("Get one {one}.")))
            .parameter(id.clone())
            .response(
                "200",
                versioned_response(&format!("The {one}"), Ref::from_schema_name(&dto)),
            )
            .response("404", problem_response(&format!("No such {one}"))),
    );
    item_paths.add_path_operation(
        item,
        vec![HttpMethod::Patch],
        OperationBuilder::new()
            .tag(tag)
            .operation_id(Some(format!("patch_{one}")))
            .summary(Some(format!(
                "Change {} with a JSON Merge Patch (RFC 7396); null removes an optional field.",
                R::A_SINGULAR
            )))
            .parameter(id.clone())
            .request_body(Some(body("application/merge-patch+json")))
            .response(
                "200",
                versioned_response(&format!("The changed {one}"), Ref::from_schema_name(&dto)),
            )
            .response("404", problem_response(&format!("No such {one}")))
            .response(
                "409",
                problem_response(&format!("Another {one} has this name")),
            )
            .response("422", problem_response("Invalid fields")),
    );
    item_paths.add_path_operation(
        item,
        vec![HttpMethod::Delete],
        OperationBuilder::new()
            .tag(tag)
            .operation_id(Some(format!("delete_{one}")))
            .summary(Some(R::DELETE_SUMMARY))
            .parameter(id)
            .response("204", ResponseBuilder::new().description("Deleted").build())
            .response("404", problem_response(&format!("No such {one}")))
            .response("409", problem_response(R::IN_USE)),
    );
    (list_paths, item_paths, schemas)
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
