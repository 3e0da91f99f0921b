//! Sensitive data masking, the same in both services: the skill masks a customer's words before it
//! stores them for the live chat, and Contoso Live Chat masks every text before it stores or shows
//! it, so no transcript, event, download or log ever holds the original.
//!
//! Built in and on by default: payment card numbers, found as runs of 13 to 19 digits (single
//! spaces or hyphens between groups allowed) that pass the Luhn check, so order numbers and phone
//! numbers are left alone. Further rules are regular expressions from the settings
//! (`[[masking.rules]]`), each applying to the customer's words, the agent's, or both.

use std::borrow::Cow;

use regex::Regex;
use serde::Deserialize;

/// What replaces a payment card number.
pub const CARD_REPLACEMENT: &str = "[card number removed]";

/// The built-in rule's name, as the settings and the pages say it.
pub const CARD_RULE: &str = "card-number";

/// The fewest and most digits a payment card number has (ISO/IEC 7812).
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Whose words a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    Customer,
    Agent,
    #[default]
    Both,
}

/// Who wrote a text being masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Customer,
    Agent,
}

impl AppliesTo {
    fn covers(self, author: Author) -> bool {
        matches!(
            (self, author),
            (AppliesTo::Both, _)
                | (AppliesTo::Customer, Author::Customer)
                | (AppliesTo::Agent, Author::Agent)
        )
    }
}

/// One configured rule, as the settings give it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Named in the pages ("masked: ...") and in a start-up refusal.
    pub name: String,
    /// A regular expression (Rust `regex` syntax).
    pub pattern: String,
    pub replacement: String,
    #[serde(default)]
    pub applies_to: AppliesTo,
}

/// The `[masking]` settings of either service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskingSettings {
    /// The built-in payment card rule (both authors).
    pub card_numbers: bool,
    pub rules: Vec<RuleSettings>,
}

impl Default for MaskingSettings {
    fn default() -> Self {
        Self {
            card_numbers: true,
            rules: Vec::new(),
        }
    }
}

/// Why the rules cannot be used; the service refuses to start, naming the rule.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaskingError {
    #[error("masking rule '{name}' does not compile: {reason}")]
    Pattern { name: String, reason: String },
    #[error(
        "masking rule '{name}' matches the empty text, so it would mask between every character"
    )]
    MatchesEmpty { name: String },
    #[error("masking rule {index} has no name")]
    Unnamed { index: usize },
    #[error("two masking rules are named '{name}'")]
    Duplicate { name: String },
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    pattern: Regex,
    replacement: String,
    applies_to: AppliesTo,
}

/// The rules, compiled: cheap to clone, shared by every writer.
#[derive(Debug, Clone)]
pub struct Masker {
    card_numbers: bool,
    rules: std::sync::Arc<[Rule]>,
}

/// A text after masking, and which rules changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked<'a> {
    pub text: Cow<'a, str>,
    /// The names of the rules that matched, in rule order, each once.
    pub rules: Vec<String>,
}

impl Masked<'_> {
    pub fn changed(&self) -> bool {
        !self.rules.is_empty()
    }
}

impl Default for Masker {
    /// The built-in card rule only.
    fn default() -> Self {
        Self {
            card_numbers: true,
            rules: std::sync::Arc::from(Vec::new()),
        }
    }
}

impl Masker {
    /// Compiles the settings' rules; the first that cannot be used is named in the error.
    pub fn new(settings: &MaskingSettings) -> Result<Self, MaskingError> {
        let mut rules = Vec::with_capacity(settings.rules.len());
        for (index, rule) in settings.rules.iter().enumerate() {
            let name = rule.name.trim();
            if name.is_empty() {
                return Err(MaskingError::Unnamed { index: index + 1 });
            }
            if name == CARD_RULE || rules.iter().any(|known: &Rule| known.name == name) {
                return Err(MaskingError::Duplicate { name: name.into() });
            }
            let pattern = regex::RegexBuilder::new(&rule.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|error| MaskingError::Pattern {
                    name: name.into(),
                    reason: error.to_string(),
                })?;
            if pattern.is_match("") {
                return Err(MaskingError::MatchesEmpty { name: name.into() });
            }
            rules.push(Rule {
                name: name.into(),
                pattern,
                replacement: rule.replacement.clone(),
                applies_to: rule.applies_to,
            });
        }
        Ok(Self {
            card_numbers: settings.card_numbers,
            rules: rules.into(),
        })
    }

    /// Masking nothing at all (for a caller that has masked already).
    pub fn off() -> Self {
        Self {
            card_numbers: false,
            rules: std::sync::Arc::from(Vec::new()),
        }
    }

    /// Masks `text` written by `author`: card numbers first, then each rule in order. The
    /// replacement is literal text (no `$1` expansion), so a rule cannot put back what it took.
    pub fn mask<'a>(&self, author: Author, text: &'a str) -> Masked<'a> {
        let mut masked = Masked {
            text: Cow::Borrowed(text),
            rules: Vec::new(),
        };
        if self.card_numbers {
            if let Some(replaced) = mask_card_numbers(&masked.text) {
                masked.text = Cow::Owned(replaced);
                masked.rules.push(CARD_RULE.to_owned());
            } else if masked.text.contains(CARD_REPLACEMENT) {
                // Masked on the way here (the skill masks before the live chat sees it): still
                // said, so the agent knows something was removed.
                masked.rules.push(CARD_RULE.to_owned());
            }
        }
        for rule in self
            .rules
            .iter()
            .filter(|rule| rule.applies_to.covers(author))
        {
            if rule.pattern.is_match(&masked.text) {
                let replaced = rule
                    .pattern
                    .replace_all(&masked.text, regex::NoExpand(&rule.replacement))
                    .into_owned();
                masked.text = Cow::Owned(replaced);
                masked.rules.push(rule.name.clone());
            }
        }
        masked
    }

    /// [`Masker::mask`] for an owned text, answering only the text.
    pub fn mask_owned(&self, author: Author, text: String) -> String {
        match self.mask(author, &text).text {
            Cow::Borrowed(_) => text,
            Cow::Owned(masked) => masked,
        }
    }
}

/// One run of digits with single separators between them: its byte range, and each group's
/// (start, end, digits) so sub-runs of whole groups can be tried.
struct DigitRun {
    groups: Vec<(usize, usize)>,
}

/// The text with every card number replaced, or `None` when it holds none.
fn mask_card_numbers(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_digit() {
            at += 1;
            continue;
        }
        let run = read_run(bytes, at);
        let end = run.groups.last().map_or(at + 1, |group| group.1);
        found.extend(cards_in(bytes, &run));
        at = end;
    }
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in found {
        out.push_str(&text[last..start]);
        out.push_str(CARD_REPLACEMENT);
        last = end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// The groups of digits from `start`: a group ends at a non-digit; the run goes on past a single
/// space or hyphen followed by a digit.
fn read_run(bytes: &[u8], start: usize) -> DigitRun {
    let mut groups = Vec::new();
    let mut group_start = start;
    let mut at = start;
    loop {
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        groups.push((group_start, at));
        let separated = at + 1 < bytes.len()
            && matches!(bytes[at], b' ' | b'-')
            && bytes[at + 1].is_ascii_digit();
        if !separated {
            return DigitRun { groups };
        }
        at += 1;
        group_start = at;
    }
}

/// The card numbers in a run: the whole run when it is one, else the longest sub-runs of whole
/// groups that are, left to right, never overlapping.
fn cards_in(bytes: &[u8], run: &DigitRun) -> Vec<(usize, usize)> {
    let digits_of = |from: usize, to: usize| -> Vec<u8> {
        run.groups[from..=to]
            .iter()
            .flat_map(|&(start, end)| bytes[start..end].iter().map(|digit| digit - b'0'))
            .collect()
    };
    let mut cards = Vec::new();
    let mut first = 0;
    'next: while first < run.groups.len() {
        for last in (first..run.groups.len()).rev() {
            let digits = digits_of(first, last);
            if CARD_DIGITS.contains(&digits.len()) && luhn(&digits) {
                cards.push((run.groups[first].0, run.groups[last].1));
                first = last + 1;
                continue 'next;
            }
        }
        first += 1;
    }
    cards
}

/// The Luhn check of a number's digits.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, &digit)| {
            let digit = u32::from(digit);
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn masked(text: &str) -> String {
        Masker::default()
            .mask(Author::Customer, text)
            .text
            .into_owned()
    }

    #[test]
    fn card_numbers_go_and_other_numbers_stay() {
        assert_eq!(
            masked("my card is 4111 1111 1111 1111, thanks"),
            "my card is [card number removed], thanks"
        );
        assert_eq!(masked("4111-1111-1111-1111"), CARD_REPLACEMENT);
        assert_eq!(masked("5500005555555559"), CARD_REPLACEMENT);
        assert_eq!(
            masked("amex 378282246310005."),
            "amex [card number removed]."
        );
        // Masked already (by the skill): the rule is still named.
        let again = Masker::default().mask(Author::Customer, "pay [card number removed] now");
        assert_eq!(again.rules, vec![CARD_RULE.to_owned()]);
        // Not Luhn: an order number of card length stays.
        assert_eq!(masked("order 4111111111111112"), "order 4111111111111112");
        // Too short or too long.
        assert_eq!(masked("call 0800 123 4567"), "call 0800 123 4567");
        assert_eq!(masked("12345678903"), "12345678903");
        // A card after a number that is not part of it.
        assert_eq!(
            masked("room 12 4111 1111 1111 1111"),
            "room 12 [card number removed]"
        );
    }

    #[test]
    fn rules_apply_to_their_authors_and_are_named() {
        let settings = MaskingSettings {
            card_numbers: true,
            rules: vec![RuleSettings {
                name: "ssn".into(),
                pattern: r"\b\d{3}-\d{2}-\d{4}\b".into(),
                replacement: "[ssn removed $1]".into(),
                applies_to: AppliesTo::Customer,
            }],
        };
        let masker = Masker::new(&settings).unwrap();
        let customer = masker.mask(Author::Customer, "ssn 123-45-6789 card 4111111111111111");
        assert_eq!(
            customer.text,
            "ssn [ssn removed $1] card [card number removed]"
        );
        assert_eq!(customer.rules, vec![CARD_RULE.to_owned(), "ssn".to_owned()]);
        let agent = masker.mask(Author::Agent, "ssn 123-45-6789");
        assert_eq!(agent.text, "ssn 123-45-6789");
        assert!(!agent.changed());
    }

    #[test]
    fn bad_rules_are_refused_by_name() {
        let rule = |name: &str, pattern: &str| MaskingSettings {
            card_numbers: true,
            rules: vec![RuleSettings {
                name: name.into(),
                pattern: pattern.into(),
                replacement: "x".into(),
                applies_to: AppliesTo::Both,
            }],
        };
        let error = Masker::new(&rule("iban", "[A-Z")).unwrap_err();
        assert!(
            error.to_string().contains("'iban' does not compile"),
            "{error}"
        );
        assert_eq!(
            Masker::new(&rule("any", "a*")).unwrap_err(),
            MaskingError::MatchesEmpty { name: "any".into() }
        );
        assert_eq!(
            Masker::new(&rule(" ", "a")).unwrap_err(),
            MaskingError::Unnamed { index: 1 }
        );
        assert_eq!(
            Masker::new(&rule(CARD_RULE, "a")).unwrap_err(),
            MaskingError::Duplicate {
                name: CARD_RULE.into()
            }
        );
    }

    #[test]
    fn luhn_knows_the_test_numbers() {
        let digits = |text: &str| text.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&digits("4111111111111111")));
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("79927398710")));
    }
}
