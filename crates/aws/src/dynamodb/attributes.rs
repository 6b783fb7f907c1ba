//! A book's JSON as DynamoDB attributes and back: objects are maps, arrays lists, numbers
//! numbers (DynamoDB keeps their decimal text), `null` the NULL type. At the top level of an
//! item a `null` field is left out instead, so that an absent optional field reads as absent.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(to_attribute).collect()),
        Value::Object(fields) => AttributeValue::M(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// The fields of a JSON object as an item's attributes (its `null` fields left out); `None`
/// when `value` is not an object.
pub fn to_item(value: &Value) -> Option<Item> {
    let fields = value.as_object()?;
    Some(
        fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), to_attribute(v)))
            .collect(),
    )
}

pub fn to_json(attribute: &AttributeValue) -> Value {
    match attribute {
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => number(n),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(values) => Value::Array(values.iter().map(to_json).collect()),
        AttributeValue::M(fields) => item_json(fields),
        AttributeValue::Ss(values) => {
            Value::Array(values.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(values) => Value::Array(values.iter().map(|n| number(n)).collect()),
        // NULL, binary types and whatever a later SDK adds: none is written here.
        _ => Value::Null,
    }
}

/// An item (or a map) as a JSON object.
pub fn item_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}

fn number(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(|| Value::String(text.to_owned()), Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_book_goes_to_attributes_and_back_without_its_nulls() {
        let book = json!({
            "id": "0190b3c4-0000-7000-8000-000000000001",
            "isbn": "9780261103344",
            "title": "The Hobbit",
            "subtitle": null,
            "authors": [{"name": "J. R. R. Tolkien", "role": "author"}],
            "price": {"amount_minor": 1299, "currency": "EUR"},
            "quantity": 4,
            "weight": 0.25,
            "ebook": false,
            "extra": [null, "x"],
        });
        let item = to_item(&book).expect("an object");
        assert!(!item.contains_key("subtitle"));
        assert_eq!(item.get("quantity"), Some(&AttributeValue::N("4".into())));
        let mut back = book.clone();
        back.as_object_mut().expect("object").remove("subtitle");
        assert_eq!(item_json(&item), back);
        assert!(to_item(&json!([1])).is_none());
    }
}
