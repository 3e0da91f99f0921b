//! Topic and skill YAML, read with `yaml-rust2` and turned into `serde_json::Value` so the rest of
//! the crate works with one tree type.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Parses one YAML document into JSON; the error names the line and column.
pub fn parse(text: &str) -> Result<Value, String> {
    let documents = YamlLoader::load_from_str(text).map_err(|error| error.to_string())?;
    match documents.as_slice() {
        [document] => Ok(to_json(document)),
        [] => Err("the YAML is empty".into()),
        _ => Err("the YAML holds more than one document".into()),
    }
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.clone())),
        Yaml::Integer(number) => Value::Number((*number).into()),
        Yaml::String(text) => Value::String(text.clone()),
        Yaml::Boolean(flag) => Value::Bool(*flag),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(text) | Yaml::Real(text) => text.clone(),
                    Yaml::Integer(number) => number.to_string(),
                    Yaml::Boolean(flag) => flag.to_string(),
                    _ => continue,
                };
                object.insert(key, to_json(value));
            }
            Value::Object(object)
        }
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_becomes_json() {
        let value =
            parse("kind: X\nlist:\n  - a\n  - 2\nnested:\n  flag: true\nempty: {}\n").unwrap();
        assert_eq!(
            value,
            serde_json::json!({"kind": "X", "list": ["a", 2], "nested": {"flag": true}, "empty": {}})
        );
        assert!(parse("a: [unclosed").is_err());
    }
}
