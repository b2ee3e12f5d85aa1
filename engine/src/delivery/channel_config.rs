//! The shape of a channel configuration, checked before its plugin sees it, and the field a
//! plugin's refusal is about, so that every error names `config.<field>`.
//!
//! Only what the plugin's JSON Schema states at its top level is checked here (an object,
//! the required properties, each property's JSON type); the plugin's own `validate-config`
//! stays the judge of everything else. This must never accept a configuration that the
//! plugin would have refused: it only refuses earlier, with the field named.

use serde_json::Value;

use crate::error::Error;

/// Refuses a configuration that is not an object, lacks a property the schema requires, or
/// gives a property a JSON type its schema does not allow. Returns the schema's property
/// names, for [`field_named`].
pub(super) fn check_shape(schema: &Value, config: &Value) -> Result<Vec<String>, Error> {
    let Some(config) = config.as_object() else {
        return Err(Error::invalid(
            "config",
            "config must be a JSON object with the plugin's settings (see its config_schema)",
        ));
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        if !config.contains_key(name) {
            return Err(Error::invalid(
                format!("config.{name}"),
                format!("config.{name} is required (see the plugin's config_schema)"),
            ));
        }
    }
    for (name, value) in config {
        let allowed = properties
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"));
        let allowed: Vec<&str> = match allowed {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        if !allowed.iter().any(|t| is_of_type(value, t)) {
            return Err(Error::invalid(
                format!("config.{name}"),
                format!(
                    "config.{name} must be {}, not {}",
                    allowed.join(" or "),
                    kind_of(value)
                ),
            ));
        }
    }
    Ok(properties
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default())
}

/// Whether `value` is of the JSON Schema type `name`.
fn is_of_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        // A type this check does not know is the plugin's to judge.
        _ => true,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The configuration field a plugin's refusal is about: the property its message begins
/// with (`"to: ..."`, `"webhook_url is empty ..."`, as the SDK asks plugins to write), or the
/// field of serde's "missing field `x`" and "unknown field `x`". None when it names none.
pub(super) fn field_named<'a>(message: &'a str, properties: &'a [String]) -> Option<&'a str> {
    let message = message
        .strip_prefix("invalid configuration: ")
        .unwrap_or(message);
    for marker in ["missing field `", "unknown field `"] {
        if let Some(rest) = message.strip_prefix(marker)
            && let Some((name, _)) = rest.split_once('`')
        {
            return Some(name);
        }
    }
    properties
        .iter()
        .filter(|name| {
            message
                .strip_prefix(name.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', ' ', '.', ',']))
        })
        .max_by_key(|name| name.len())
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "required": ["to"], "properties": {
            "to": {"type": "array"}, "locale": {"type": "string"}, "token": {"type": ["string", "null"]}}})
    }

    #[test]
    fn a_missing_or_wrong_typed_property_is_named() {
        let field = |config: Value| {
            check_shape(&schema(), &config)
                .unwrap_err()
                .field()
                .map(str::to_owned)
        };
        assert_eq!(field(json!({})).as_deref(), Some("config.to"));
        assert_eq!(
            field(json!({"to": "a@example.com"})).as_deref(),
            Some("config.to")
        );
        assert_eq!(
            field(json!({"to": [], "locale": 7})).as_deref(),
            Some("config.locale")
        );
        assert_eq!(field(json!([])).as_deref(), Some("config"));
        assert!(check_shape(&schema(), &json!({"to": [], "token": null, "other": 1})).is_ok());
    }

    #[test]
    fn a_refusal_names_the_property_it_begins_with() {
        let names = ["to".to_owned(), "token".to_owned(), "locale".to_owned()];
        assert_eq!(
            field_named("to: 'x' is not an email address", &names),
            Some("to")
        );
        assert_eq!(field_named("token is empty", &names), Some("token"));
        assert_eq!(
            field_named("invalid configuration: missing field `url`", &names),
            Some("url")
        );
        assert_eq!(field_named("topics are not supported", &names), None);
        assert_eq!(field_named("set a secret", &names), None);
    }
}
