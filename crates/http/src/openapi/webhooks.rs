//! The rules and examples of the webhook inputs, as `bookstore_core::webhook` checks them.

use bookstore_core::webhook::draft::{MAX_DESCRIPTION_LEN, MAX_URL_LEN, URL_PATTERN};
use bookstore_core::webhook::EVENT_TYPES;
use serde_json::{json, Value};

pub fn apply(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    if !schemas["WebhookInput"].is_object() {
        return;
    }
    let input = json!({
        "type": "object",
        "description": "A webhook: where to deliver which events.",
        "properties": {
            "url": {"type": "string", "format": "uri", "maxLength": MAX_URL_LEN,
                    "pattern": URL_PATTERN,
                    "description": "http or https; the host a DNS name or an IPv4 address (for \
                        IPv6, a DNS name); no credentials or fragment. Loopback, \
                        private, link-local and metadata addresses are refused unless the server \
                        allows private targets (BOOKSTORE_WEBHOOK_ALLOW_PRIVATE). Required."},
            "event_types": {"type": "array", "minItems": 1, "maxItems": EVENT_TYPES.len(),
                            "uniqueItems": true,
                            "items": {"type": "string", "enum": EVENT_TYPES},
                            "description": "The event types delivered. Required."},
            "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION_LEN,
                            "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069\\ufdd0-\\ufdef\\ufffe\\uffff]*$"},
            "active": {"type": ["boolean", "null"],
                       "description": "Inactive webhooks get no events; absent or null: true."},
        },
        "required": ["url", "event_types"],
        "additionalProperties": false,
        "examples": [{"url": "https://hooks.example.com/bookstore",
                      "event_types": ["bookstore.book.created", "bookstore.book.stock_adjusted"],
                      "description": "Shop front stock sync", "active": true}],
    });
    let mut patch = input.clone();
    if let Some(object) = patch.as_object_mut() {
        object.remove("required");
        object.remove("examples");
        object.insert(
            "description".into(),
            "A JSON Merge Patch (RFC 7396) of the webhook's fields: those given change, null \
             removes the description, the rest stay."
                .into(),
        );
        object.insert("examples".into(), json!([{"active": false}]));
    }
    schemas["WebhookInput"] = input;
    schemas["WebhookPatch"] = patch;
    doc["paths"]["/webhooks/{id}"]["patch"]["requestBody"]["content"]
        ["application/merge-patch+json"]["schema"] =
        json!({"$ref": "#/components/schemas/WebhookPatch"});
}
