//! The rules the server enforces on input, written into the document's schemas so that a
//! client (or a fuzzer) knows them: required and non-nullable fields, enums, ranges, text
//! patterns, formats, and the shape of merge patches. Applied to the serialized document,
//! where a rule reads as the JSON it becomes.

use bookstore_core::book::{
    MAX_AUTHORS, MAX_DESCRIPTION, MAX_GENRES, MAX_LOCATION, MAX_NAME, MAX_PAGE_COUNT,
    MAX_PUBLISHER, MAX_QUANTITY, MAX_TITLE,
};
use bookstore_core::money::MAX_AMOUNT_MINOR;
use bookstore_core::Currency;
use serde_json::{json, Value};

/// What no text field takes (`bookstore_core::text`): bidirectional embeddings, overrides and
/// isolates (U+202A to U+202E, U+2066 to U+2069) and noncharacters (U+FDD0 to U+FDEF and the
/// last two code points of every plane; those past U+FFFF written as themselves, which a
/// pattern read by code point takes as one character).
fn refused() -> String {
    let mut class = String::from(r"\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef\ufffe\uffff");
    for plane in 1..=16u32 {
        for last in [0xFFFE, 0xFFFF] {
            class.extend(char::from_u32((plane << 16) | last));
        }
    }
    class
}

/// What the server trims as invisible (`bookstore_core::text::is_invisible`), so that text of
/// only these is blank (those past U+FFFF, too, written as themselves).
const INVISIBLE: &str = "\\s\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u2060-\\u2064\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\u{1D173}-\u{1D17A}\u{E0000}-\u{E0FFF}";

/// Text the server takes on one line: no control characters, something visible (it trims,
/// and blank required text is refused).
fn line_pattern() -> String {
    let refused = refused();
    format!(
        r"^[^\x00-\x1f\x7f-\x9f{refused}]*[^\x00-\x1f\x7f-\x9f{refused}{INVISIBLE}][^\x00-\x1f\x7f-\x9f{refused}]*$"
    )
}

/// Optional one-line text: blank means absent.
fn optional_line_pattern() -> String {
    format!(r"^[^\x00-\x1f\x7f-\x9f{}]*$", refused())
}

/// Optional text of several lines: tabs and line breaks allowed.
pub(super) fn optional_lines_pattern() -> String {
    format!(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{}]*$", refused())
}

/// Text with no other rule: the server refuses a NUL in any query parameter and anywhere in
/// a body (PostgreSQL cannot store one, and no client means one).
const NO_NUL: &str = r"^[^\x00]*$";
const LANGUAGE: &str = "^[A-Za-z]{2}$";
const ROLES: [&str; 2] = ["admin", "staff"];
const FORMATS: [&str; 5] = ["hardcover", "paperback", "ebook", "audiobook", "other"];
const CONTRIBUTOR_ROLES: [&str; 4] = ["author", "editor", "translator", "illustrator"];

pub(super) fn line(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": line_pattern()})
}

pub(super) fn optional_line(max: usize) -> Value {
    json!({"type": ["string", "null"], "maxLength": max, "pattern": optional_line_pattern()})
}

pub(super) fn int(min: i64, max: i64) -> Value {
    json!({"type": "integer", "format": "int64", "minimum": min, "maximum": max})
}

fn optional_int(min: i64, max: i64) -> Value {
    json!({"type": ["integer", "null"], "format": "int64", "minimum": min, "maximum": max})
}

/// Sets `schema`'s properties (replacing what they were) and its required list.
pub(super) fn define(schemas: &mut Value, schema: &str, properties: Value, required: &[&str]) {
    let target = &mut schemas[schema];
    if let (Some(target), Some(properties)) =
        (target["properties"].as_object_mut(), properties.as_object())
    {
        for (name, value) in properties {
            target.insert(name.clone(), value.clone());
        }
    }
    target["required"] = json!(required);
    target["additionalProperties"] = json!(false);
}

/// Every ISO 4217 currency the server prices in, grouped by its number of decimals.
fn currencies_by_exponent() -> Vec<(u16, Vec<String>)> {
    let mut groups: Vec<(u16, Vec<String>)> = Vec::new();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code = String::from_utf8_lossy(&[a, b, c]).into_owned();
                if let Ok(currency) = Currency::parse(&code) {
                    let exponent = currency.exponent();
                    match groups.iter_mut().find(|(e, _)| *e == exponent) {
                        Some((_, codes)) => codes.push(code),
                        None => groups.push((exponent, vec![code])),
                    }
                }
            }
        }
    }
    groups.sort();
    groups
}

/// A price: minor units in any currency, or a decimal string with at most the currency's
/// decimals and a value of at most `MAX_AMOUNT_MINOR` minor units.
fn price() -> Value {
    let groups = currencies_by_exponent();
    let all: Vec<&String> = groups.iter().flat_map(|(_, codes)| codes).collect();
    let mut variants = vec![json!({
        "type": "object",
        "title": "minor units",
        "properties": {
            "amount_minor": int(0, MAX_AMOUNT_MINOR),
            "currency": {"type": "string", "enum": all},
        },
        "required": ["amount_minor", "currency"],
        "additionalProperties": false,
    })];
    let whole_digits = MAX_AMOUNT_MINOR.ilog10();
    for (exponent, codes) in &groups {
        let digits = whole_digits.saturating_sub(u32::from(*exponent));
        let pattern = if *exponent == 0 {
            format!("^[0-9]{{1,{digits}}}$")
        } else {
            format!("^[0-9]{{1,{digits}}}(\\.[0-9]{{1,{exponent}}})?$")
        };
        variants.push(json!({
            "type": "object",
            "title": format!("decimal, {exponent} decimals"),
            "properties": {
                "amount": {"type": "string", "pattern": pattern},
                "currency": {"type": "string", "enum": codes},
            },
            "required": ["amount", "currency"],
            "additionalProperties": false,
        }));
    }
    json!({
        "description": "A price: `amount_minor` (integer minor units, as v1 shows it) or \
            `amount` (a decimal string with at most the currency's decimals, as v2 shows it), \
            with an ISO 4217 `currency`; at most 1,000,000,000,000 minor units.",
        "oneOf": variants,
        "examples": [{"amount_minor": 1299, "currency": "EUR"}, {"amount": "12.99", "currency": "EUR"}],
    })
}

/// What the book's `location` field is, and is not.
const SHELF_LABEL: &str = "The shelf label: where on the shelves to find the book (free \
    text). Not a stock location: stock per location is `GET /books/{id}/stock`.";

fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

/// The merge-patch form of an input schema: every field optional; a field that cannot be
/// null in the input cannot be null in a patch either.
fn patch_of(input: &Value, description: &str) -> Value {
    let mut patch = input.clone();
    if let Some(object) = patch.as_object_mut() {
        object.remove("required");
        object.insert("description".into(), description.into());
        object.remove("examples");
    }
    patch
}

/// The password rule: 12 to 128 characters; common and easily guessed ones are refused
/// (zxcvbn), which a pattern cannot say: format `password` names the rule, NUL included (a
/// pattern beside the format would have generators draw from the pattern, not the rule).
fn password() -> Value {
    json!({"type": "string", "format": "password", "minLength": 12, "maxLength": 128,
           "description": "12 to 128 characters, no NUL; common and easily guessed passwords are refused"})
}

pub fn apply(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let contributor_name = line(MAX_NAME);
    define(
        schemas,
        "BookInput",
        json!({
            "isbn": {"type": "string", "format": "isbn", "maxLength": 40,
                     "description": "ISBN-10 or ISBN-13, any hyphenation. Required."},
            "title": line(MAX_TITLE),
            "subtitle": optional_line(MAX_TITLE),
            "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION, "pattern": optional_lines_pattern()},
            "authors": {"type": ["array", "null"], "maxItems": MAX_AUTHORS, "uniqueItems": true,
                        "items": {"$ref": "#/components/schemas/ContributorInput"},
                        "description": "Names or author ids, in order; or objects with a role."},
            "genres": {"type": ["array", "null"], "maxItems": MAX_GENRES, "uniqueItems": true,
                       "items": line(bookstore_core::genre::MAX_GENRE_NAME),
                       "description": "Genre names or ids."},
            "publisher": optional_line(MAX_PUBLISHER),
            "published_year": optional_int(1, 9999),
            "language": {"type": ["string", "null"], "pattern": LANGUAGE, "description": "ISO 639-1 code"},
            "format": {"type": ["string", "null"], "enum": [FORMATS[0], FORMATS[1], FORMATS[2], FORMATS[3], FORMATS[4], null]},
            "page_count": optional_int(1, MAX_PAGE_COUNT),
            "price": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/PriceInput"}]},
            "quantity": optional_int(0, MAX_QUANTITY),
            "reorder_point": optional_int(0, MAX_QUANTITY),
            "reorder_quantity": optional_int(0, MAX_QUANTITY),
            "location": described(optional_line(MAX_LOCATION), SHELF_LABEL),
        }),
        &["isbn", "title"],
    );
    schemas["ContributorInput"] = json!({
        "oneOf": [
            {"type": "string", "maxLength": MAX_NAME, "pattern": line_pattern(),
             "description": "An author's name (matched ignoring case, or created) or an author id"},
            {"$ref": "#/components/schemas/ContributorObject"},
        ]
    });
    define(
        schemas,
        "ContributorObject",
        json!({
            "id": {"type": "string", "format": "uuid"},
            "name": contributor_name,
            "role": {"type": "string", "enum": CONTRIBUTOR_ROLES},
        }),
        &[],
    );
    schemas["ContributorObject"]["oneOf"] = json!([{"required": ["id"]}, {"required": ["name"]}]);
    schemas["PriceInput"] = price();
    define(
        schemas,
        "AuthorInput",
        json!({"name": line(MAX_NAME), "bio": {"type": ["string", "null"], "maxLength": bookstore_core::author::MAX_BIO, "pattern": optional_lines_pattern()}}),
        &["name"],
    );
    define(
        schemas,
        "GenreInput",
        json!({"name": line(bookstore_core::genre::MAX_GENRE_NAME),
               "parent_id": {"type": ["string", "null"], "format": "uuid", "description": "The enclosing genre, for nesting"}}),
        &["name"],
    );
    super::inventory::apply(schemas);
    for (input, patch) in [
        ("BookInput", "BookPatch"),
        ("AuthorInput", "AuthorPatch"),
        ("GenreInput", "GenrePatch"),
        ("LocationInput", "LocationPatch"),
    ] {
        let derived = patch_of(
            &schemas[input],
            "A JSON Merge Patch (RFC 7396) of the fields: those given change, null removes an \
             optional field, the rest stay.",
        );
        schemas[patch] = derived;
    }
    let username = json!({"type": "string", "pattern": "^[A-Za-z0-9._@-]{3,64}$",
                          "description": "3 to 64 letters, digits and . _ @ - (stored in lower case)"});
    define(
        schemas,
        "CreateUserInput",
        json!({"username": username, "password": password(), "role": {"type": "string", "enum": ROLES}}),
        &["username", "password", "role"],
    );
    define(
        schemas,
        "UpdateUserInput",
        json!({"role": {"type": ["string", "null"], "enum": ["admin", "staff", null]},
               "disabled": {"type": ["boolean", "null"]},
               "password": {"oneOf": [{"type": "null"}, password()]},
               "current_password": {"type": ["string", "null"], "pattern": NO_NUL,
                                    "description": "Your current password: needed when `password` changes your own (422 on `current_password` without it, when it is wrong, or over 1024 bytes of UTF-8)"}}),
        &[],
    );
    define(
        schemas,
        "ChangePasswordInput",
        json!({"current_password": {"type": "string", "pattern": NO_NUL,
                                    "description": "422 on `current_password` when it is wrong, or over 1024 bytes of UTF-8"},
               "new_password": password()}),
        &["current_password", "new_password"],
    );
    define(
        schemas,
        "LoginInput",
        json!({"username": {"type": "string", "pattern": NO_NUL},
               "password": {"type": "string", "pattern": NO_NUL,
                            "description": "No password is over 1024 bytes of UTF-8: a longer one is answered as a wrong one (401)"}}),
        &["username", "password"],
    );
    schemas["LoginInput"]["properties"]["device_token"]["pattern"] = json!(NO_NUL);
    define(
        schemas,
        "RefreshInput",
        json!({"refresh_token": {"type": "string", "pattern": NO_NUL},
               "refresh_cookie": {"type": "boolean", "const": true}}),
        &[],
    );
    // The token in the body, or `refresh_cookie: true` for the cookie's: exactly one.
    schemas["RefreshInput"]["oneOf"] = json!([
        {"required": ["refresh_token"], "not": {"required": ["refresh_cookie"]}},
        {"required": ["refresh_cookie"], "not": {"required": ["refresh_token"]}}
    ]);

    for (path, method, patch) in [
        ("/books/{id}", "patch", "BookPatch"),
        ("/authors/{id}", "patch", "AuthorPatch"),
        ("/genres/{id}", "patch", "GenrePatch"),
        ("/locations/{id}", "patch", "LocationPatch"),
    ] {
        doc["paths"][path][method]["requestBody"]["content"]["application/merge-patch+json"]
            ["schema"] = json!({"$ref": format!("#/components/schemas/{patch}")});
    }
    constrain_parameters(doc);
}

/// Query, path and header parameters: the same rules as the fields they stand for.
fn constrain_parameters(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let path_is_authors = path == "/authors";
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
                let rule = match parameter["name"].as_str().unwrap_or("") {
                    "limit" => {
                        json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20})
                    }
                    "year_from" | "year_to" => int(1, 9999),
                    "price_min" | "price_max" => int(0, i64::MAX),
                    "language" => json!({"type": "string", "pattern": "^\\s*([A-Za-z]{2})?\\s*$"}),
                    "format" => {
                        json!({"type": "string", "enum": ["", FORMATS[0], FORMATS[1], FORMATS[2], FORMATS[3], FORMATS[4]]})
                    }
                    // Empty is the default order, as an empty `format` is no filter: what a
                    // search form sends for a choice left alone.
                    "sort" => {
                        json!({"type": "string", "enum": ["", "relevance", "title", "-updated_at", "price", "-price", "published_year"]})
                    }
                    "q" if path_is_authors => {
                        json!({"type": "string", "maxLength": MAX_NAME, "pattern": NO_NUL})
                    }
                    "q" => json!({"type": "string", "maxLength": 1000, "pattern": NO_NUL}),
                    "author" | "genre" | "publisher" => {
                        json!({"type": "string", "maxLength": 500, "pattern": NO_NUL})
                    }
                    "facets" => {
                        json!({"type": "string", "pattern": "^\\s*((genre|language|format)\\s*(,\\s*(genre|language|format)\\s*)*)?$"})
                    }
                    "Idempotency-Key" => {
                        json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"})
                    }
                    "If-Match" => {
                        json!({"type": "string", "pattern": "^(\\*|\"[0-9]+\"(\\s*,\\s*\"[0-9]+\")*)$"})
                    }
                    "isbn" => json!({"type": "string", "format": "isbn"}),
                    // The server trims it, as it does a location in a body.
                    "location" => json!({"type": "string",
                        "pattern": format!("^\\s*{}\\s*$", super::inventory::LOCATION_REF)}),
                    "not_counted_since" => json!({"type": "string",
                        "anyOf": [{"format": "date-time"}, {"maxLength": 0}],
                        "description": "Only books without a `count` stock movement since then (RFC 3339; empty: no filter, like every filter)"}),
                    "action" if path == "/audit" => {
                        let actions: Vec<&str> = bookstore_core::audit::AuditAction::ALL
                            .iter()
                            .map(|a| a.as_str())
                            .collect();
                        json!({"type": "string", "enum": actions})
                    }
                    "actor" if path == "/audit" => {
                        json!({"type": "string", "pattern": "^[0-9A-Za-z._@-]{3,64}$"})
                    }
                    "since" | "until" if path == "/audit" => {
                        json!({"type": "string", "format": "date-time"})
                    }
                    _ => continue,
                };
                if let Some(parameter) = parameter.as_object_mut() {
                    parameter.insert("schema".into(), rule);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the first character class of `pattern`, `[^...]`, leaves `c` out. Reads the
    /// forms the patterns above use: `\xHH`, `\uHHHH`, `\s`, literal characters, ranges.
    fn class_refuses(pattern: &str, c: char) -> bool {
        fn read(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<Vec<char>> {
            match chars.next()? {
                ']' => None,
                '\\' => match chars.next()? {
                    's' => Some(vec![
                        ' ', '\t', '\n', '\u{0B}', '\u{0C}', '\r', '\u{A0}', '\u{3000}',
                    ]),
                    kind @ ('x' | 'u') => {
                        let digits: String = chars
                            .by_ref()
                            .take(if kind == 'x' { 2 } else { 4 })
                            .collect();
                        Some(vec![char::from_u32(
                            u32::from_str_radix(&digits, 16).ok()?,
                        )?])
                    }
                    other => Some(vec![other]),
                },
                literal => Some(vec![literal]),
            }
        }
        let start = pattern.find("[^").expect("a negated class") + 2;
        let mut chars = pattern[start..].chars().peekable();
        while let Some(low) = read(&mut chars) {
            if chars.peek() == Some(&'-') {
                chars.next();
                let high = read(&mut chars).expect("a range's end");
                if (low[0]..=high[0]).contains(&c) {
                    return true;
                }
            } else if low.contains(&c) {
                return true;
            }
        }
        false
    }

    #[test]
    fn text_patterns_refuse_what_the_server_refuses() {
        let refused = [
            '\0',
            '\u{1B}',
            '\u{85}',
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{1FFFE}',
            '\u{10FFFF}',
        ];
        for c in refused {
            let text = format!("a{c}b");
            assert!(
                bookstore_core::text::required(&text, 100, true).is_err(),
                "{c:?}"
            );
            for pattern in [
                line_pattern(),
                optional_line_pattern(),
                optional_lines_pattern(),
            ] {
                assert!(class_refuses(&pattern, c), "{c:?} in {pattern}");
            }
        }
        // Taken inside text, by the server and by the document.
        for c in [
            'a',
            'é',
            '\u{200E}',
            '\u{202F}',
            '\u{FDCF}',
            '\u{FFFD}',
            '\u{1F600}',
        ] {
            let text = format!("a{c}b");
            assert!(
                bookstore_core::text::required(&text, 100, false).is_ok(),
                "{c:?}"
            );
            for pattern in [line_pattern(), optional_line_pattern()] {
                assert!(!class_refuses(&pattern, c), "{c:?} in {pattern}");
            }
        }
    }

    #[test]
    fn required_text_needs_a_character_the_server_does_not_trim() {
        let pattern = line_pattern();
        // The middle class of `line_pattern`: the one visible character required text needs.
        let visible = &pattern[pattern.find("]*").expect("first class") + 2..];
        for c in [
            ' ',
            '\u{200B}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{1D173}',
        ] {
            assert!(bookstore_core::text::required(&c.to_string(), 100, false).is_err());
            assert!(class_refuses(visible, c), "{c:?}");
        }
        assert!(!class_refuses(visible, 'x'));
    }

    /// Every text an input schema takes has a rule that leaves NUL out (the server refuses
    /// one in any body), unless it is an enum or a format whose rule says it (`password`;
    /// `uri`: RFC 3986 has no NUL).
    fn text_without_nul_rule(path: &str, schema: &Value, found: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                let text = matches!(&map.get("type"), Some(t) if *t == "string" || *t == &json!(["string", "null"]));
                let ruled = map.contains_key("enum")
                    || map.contains_key("const")
                    || matches!(
                        map.get("format").and_then(Value::as_str),
                        Some("uuid" | "isbn" | "password" | "uri")
                    )
                    || map.get("pattern").and_then(Value::as_str).is_some_and(|p| {
                        // A class of what is refused, or one of the few characters taken.
                        if p.contains("[^") {
                            class_refuses(p, '\0')
                        } else {
                            (p.starts_with("^[") || p.starts_with("^(?:[")) && !p.contains("\\x00")
                        }
                    });
                if text && !ruled {
                    found.push(path.to_owned());
                }
                for (key, value) in map {
                    text_without_nul_rule(&format!("{path}/{key}"), value, found);
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    text_without_nul_rule(&format!("{path}/{i}"), value, found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_input_text_leaves_nul_out() {
        let doc = crate::openapi();
        let mut found = Vec::new();
        for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
            if name.ends_with("Input") || name.ends_with("Patch") || name == "ContributorObject" {
                text_without_nul_rule(name, schema, &mut found);
            }
        }
        assert_eq!(found, Vec::<String>::new());
        assert!(bookstore_core::text::required("a\0b", 10, true).is_err());
    }

    #[test]
    fn query_text_may_be_anything_but_nul() {
        assert!(class_refuses(NO_NUL, '\0'));
        assert!(!class_refuses(NO_NUL, '\u{202E}'));
    }
}
