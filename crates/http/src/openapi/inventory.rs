//! The input rules of the inventory: stock movements and transfers, locations, stocktakes
//! and their counts (see [`super::constraints`]).

use super::constraints::{define, int, line, optional_line, optional_lines_pattern};
use bookstore_core::book::MAX_QUANTITY;
use serde_json::{json, Value};

/// A location's code (any case) or its id, unanchored.
pub(super) const LOCATION_REF: &str = "(?:[A-Za-z0-9][A-Za-z0-9._-]{0,31}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})";

/// A location reference: a location's code (any case) or its id.
fn location_ref(description: &str) -> Value {
    json!({"type": "string", "description": description,
           "pattern": format!("^{LOCATION_REF}$")})
}

/// A stock movement: each kind takes its own range of quantities, and adjustments a reason;
/// a transfer takes its two locations, every other kind one optional location.
fn stock_movement() -> Value {
    let reason = optional_line(500);
    let location = json!({"oneOf": [{"type": "null"},
        location_ref("Where: a location's code or id (the default location when absent)")]});
    let absent = json!({"type": "null"});
    json!({
        "description": "`receive`, `sale`, `return` (a positive count), `adjustment` (a signed, \
            non-zero change, with a reason) or `count` (the quantity counted on the shelf), at \
            `location` (the default location when absent); or `transfer` (a positive count \
            moved from `from_location` to `to_location`, atomically).",
        "oneOf": [
            {"type": "object", "title": "receive, sale or return",
             "properties": {"kind": {"type": "string", "enum": ["receive", "sale", "return"]},
                            "quantity": int(1, MAX_QUANTITY), "reason": reason,
                            "location": location, "from_location": absent, "to_location": absent},
             "required": ["kind", "quantity"], "additionalProperties": false},
            {"type": "object", "title": "adjustment",
             "properties": {"kind": {"const": "adjustment"},
                            "quantity": {"allOf": [int(-MAX_QUANTITY, MAX_QUANTITY), {"not": {"const": 0}}]},
                            "reason": line(500),
                            "location": location, "from_location": absent, "to_location": absent},
             "required": ["kind", "quantity", "reason"], "additionalProperties": false},
            {"type": "object", "title": "count",
             "properties": {"kind": {"const": "count"}, "quantity": int(0, MAX_QUANTITY), "reason": reason,
                            "location": location, "from_location": absent, "to_location": absent},
             "required": ["kind", "quantity"], "additionalProperties": false},
            {"type": "object", "title": "transfer",
             "description": "`from_location` and `to_location` must be different locations; an unknown one is a 422.",
             "properties": {"kind": {"const": "transfer"}, "quantity": int(1, MAX_QUANTITY), "reason": reason,
                            "location": absent,
                            "from_location": location_ref("The source: a location's code or id"),
                            "to_location": location_ref("The destination: a location's code or id")},
             "required": ["kind", "quantity", "from_location", "to_location"], "additionalProperties": false},
        ],
        "examples": [{"kind": "sale", "quantity": 1}, {"kind": "adjustment", "quantity": -2, "reason": "damaged"},
                     {"kind": "transfer", "quantity": 3, "from_location": "warehouse", "to_location": "main"}],
    })
}

pub(super) fn apply(schemas: &mut Value) {
    schemas["StockMovementInput"] = stock_movement();
    define(
        schemas,
        "LocationInput",
        json!({"code": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
                        "description": "Unique, 1 to 32 letters, digits, . _ - (stored in lower case)"},
               "name": line(bookstore_core::location::MAX_LOCATION_NAME),
               "kind": {"type": "string", "enum": ["store", "warehouse", "shelf"]},
               "parent_id": {"type": ["string", "null"], "format": "uuid",
                             "description": "The location a shelf is inside: required for a shelf, absent (or null) for a store or a warehouse"}}),
        &["code", "name", "kind"],
    );
    let optional_location = json!({"oneOf": [{"type": "null"},
        location_ref("A location's code or id")]});
    define(
        schemas,
        "StocktakeInput",
        json!({"location": optional_location.clone(),
               "note": {"type": ["string", "null"], "maxLength": bookstore_core::stocktake::MAX_NOTE,
                        "pattern": optional_lines_pattern()}}),
        &[],
    );
    define(
        schemas,
        "CountInput",
        json!({"isbn": {"type": "string", "format": "isbn", "maxLength": 40,
                        "description": "ISBN-10 or ISBN-13, any hyphenation (or give book_id)"},
               "book_id": {"type": "string", "format": "uuid"},
               "counted": int(0, MAX_QUANTITY),
               "add": {"allOf": [int(-MAX_QUANTITY, MAX_QUANTITY), {"not": {"const": 0}}]},
               "location": optional_location}),
        &[],
    );
    schemas["CountInput"]["allOf"] = json!([
        {"oneOf": [{"required": ["isbn"], "not": {"required": ["book_id"]}},
                   {"required": ["book_id"], "not": {"required": ["isbn"]}}]},
        {"oneOf": [{"required": ["counted"], "not": {"required": ["add"]}},
                   {"required": ["add"], "not": {"required": ["counted"]}}]},
    ]);
}
