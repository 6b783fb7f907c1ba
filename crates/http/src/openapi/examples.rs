//! Examples for every input of the document: what a client would send. Each is valid, so
//! an example run exercises the success path of each operation.

use serde_json::{json, Value};

pub fn apply(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    for (schema, example) in [
        (
            "BookInput",
            json!({
            "isbn": "0-261-10334-2", "title": "The Hobbit", "subtitle": "There and Back Again",
            "authors": ["J. R. R. Tolkien"], "genres": ["Fantasy"], "publisher": "HarperCollins",
            "published_year": 1937, "language": "en", "format": "paperback", "page_count": 310,
            "price": {"amount_minor": 1299, "currency": "EUR"}, "quantity": 4, "reorder_point": 2,
            "reorder_quantity": 6, "location": "F-12"}),
        ),
        ("BookPatch", json!({"quantity": 7, "subtitle": null})),
        (
            "AuthorInput",
            json!({"name": "Ursula K. Le Guin", "bio": "American author of speculative fiction."}),
        ),
        ("AuthorPatch", json!({"bio": null})),
        (
            "GenreInput",
            json!({"name": "Science fiction", "parent_id": null}),
        ),
        ("GenrePatch", json!({"name": "Speculative fiction"})),
        (
            "ContributorObject",
            json!({"name": "Christopher Tolkien", "role": "editor"}),
        ),
        (
            "LoginInput",
            json!({"username": "clerk", "password": "saffron lighthouse kettle"}),
        ),
        (
            "RefreshInput",
            json!({"refresh_token": "rt_8QmX0c2Yq3T0cXb1v9H4kA"}),
        ),
        (
            "ChangePasswordInput",
            json!({"current_password": "saffron lighthouse kettle", "new_password": "velvet tram orbit quinoa"}),
        ),
        (
            "CreateUserInput",
            json!({"username": "clerk", "password": "saffron lighthouse kettle", "role": "staff"}),
        ),
        ("UpdateUserInput", json!({"role": "staff"})),
    ] {
        if schemas[schema].is_object() {
            schemas[schema]["examples"] = json!([example]);
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in parameters {
                let example = match parameter["name"].as_str().unwrap_or("") {
                    "limit" => json!(20),
                    "q" => json!("tolkien hobbit"),
                    "author" => json!("J. R. R. Tolkien"),
                    "genre" => json!("Fantasy"),
                    "publisher" => json!("HarperCollins"),
                    "language" => json!("en"),
                    "format" => json!("paperback"),
                    "sort" => json!("title"),
                    "year_from" => json!(1930),
                    "year_to" => json!(1960),
                    "price_min" => json!(500),
                    "price_max" => json!(2000),
                    "in_stock" => json!(true),
                    "facets" => json!("genre,language"),
                    "isbn" => json!("9780261103344"),
                    "Idempotency-Key" => json!("till-3-sale-0042"),
                    "If-Match" => json!("*"),
                    "id" => json!("0192f8a0-7c1e-7000-8000-000000000001"),
                    "delivery_id" => json!("0192f8a0-7c1e-7000-8000-000000000002"),
                    _ => continue,
                };
                if let Some(parameter) = parameter.as_object_mut() {
                    parameter.insert("example".into(), example);
                }
            }
        }
    }
}
