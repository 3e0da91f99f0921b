//! Path segments of the URLs the skill calls, encoded the way Microsoft's SDKs encode them
//! (`encodeURIComponent`): everything outside RFC 3986's unreserved characters.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one path segment.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_encoded() {
        assert_eq!(segment("a:1/2 x"), "a%3A1%2F2%20x");
        assert_eq!(segment("A-z_0.9~"), "A-z_0.9~");
    }
}
