//! Small XML reads over `quick-xml`: well-formedness, and the few values the checks need.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Checks that `text` is well-formed XML with one root element.
pub fn check_well_formed(text: &str) -> Result<(), String> {
    let mut reader = Reader::from_str(text.trim_start_matches('\u{feff}'));
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Empty(_)) if depth == 0 => roots += 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(error) => return Err(format!("at byte {}: {error}", reader.error_position())),
        }
    }
    match (depth, roots) {
        (0, 1) => Ok(()),
        (0, n) => Err(format!("expected one root element, found {n}")),
        _ => Err("an element is not closed".into()),
    }
}

/// The value of `attribute` on every element named `element`, in document order.
pub fn attributes(text: &str, element: &str, attribute: &str) -> Vec<String> {
    let mut reader = Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut values = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(tag)) | Ok(Event::Empty(tag))
                if tag.name().as_ref() == element.as_bytes() =>
            {
                for found in tag.attributes().flatten() {
                    if found.key.as_ref() == attribute.as_bytes() {
                        if let Ok(value) = found.unescape_value() {
                            values.push(value.into_owned());
                        }
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    values
}

/// The text of every element named `element` (direct text only), in document order.
pub fn texts(text: &str, element: &str) -> Vec<String> {
    let mut reader = Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut values = Vec::new();
    let mut inside = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(tag)) if tag.name().as_ref() == element.as_bytes() => {
                inside = true;
                values.push(String::new());
            }
            Ok(Event::Text(content)) if inside => {
                if let (Some(last), Ok(decoded)) = (values.last_mut(), content.decode()) {
                    last.push_str(&decoded);
                }
            }
            // Entity references arrive on their own (`&amp;` is one event).
            Ok(Event::GeneralRef(reference)) if inside => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => Some(character.to_string()),
                    _ => reference.decode().ok().and_then(|name| {
                        quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                    }),
                };
                if let (Some(last), Some(resolved)) = (values.last_mut(), resolved) {
                    last.push_str(&resolved);
                }
            }
            Ok(Event::End(tag)) if tag.name().as_ref() == element.as_bytes() => inside = false,
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    values
}

/// Escapes text for an XML element.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formedness_is_checked() {
        assert!(check_well_formed("<a><b x=\"1\"/>t</a>").is_ok());
        assert!(check_well_formed("\u{feff}<?xml version=\"1.0\"?><a/>").is_ok());
        assert!(check_well_formed("<a><b></a>").is_err());
        assert!(check_well_formed("<a></a><b/>").is_err());
        assert!(check_well_formed("<a>").is_err());
    }

    #[test]
    fn values_are_read() {
        let text = "<r><c k=\"1\"/><c k=\"2\"><t>x &amp; y</t></c></r>";
        assert_eq!(attributes(text, "c", "k"), vec!["1", "2"]);
        assert_eq!(texts(text, "t"), vec!["x & y"]);
    }
}
