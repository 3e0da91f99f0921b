//! Card numbers never survive masking, in any surrounding text; digit runs that fail the Luhn
//! check are kept as they are.

use proptest::prelude::*;
use service_support::masking::{luhn, Author, Masker};

/// A Luhn-valid card number of 13 to 19 digits.
fn card() -> impl Strategy<Value = String> {
    (12usize..=18)
        .prop_flat_map(|len| proptest::collection::vec(0u8..10, len))
        .prop_map(|mut digits| {
            for check in 0..10 {
                digits.push(check);
                if luhn(&digits) {
                    break;
                }
                digits.pop();
            }
            digits
                .iter()
                .map(|digit| char::from(b'0' + digit))
                .collect()
        })
}

/// A number shaped like a card (13 to 19 digits) that fails the Luhn check.
fn not_a_card() -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, 13..=19)
        .prop_filter("fails Luhn", |digits| !luhn(digits))
        .prop_map(|digits| {
            digits
                .iter()
                .map(|digit| char::from(b'0' + digit))
                .collect()
        })
}

/// The card as people type it: plain, or in groups of four by spaces or hyphens.
fn typed(digits: &str, style: u8) -> String {
    let separator = match style {
        0 => return digits.to_owned(),
        1 => " ",
        _ => "-",
    };
    digits
        .as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(separator)
}

fn digits_only(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Text around a number: anything, set off from it by something that is not a digit.
fn around() -> impl Strategy<Value = (String, String)> {
    let boundary = prop::sample::select(vec![" ", "\n", ": ", "(", ", ", "-", "é "]);
    (any::<String>(), boundary.clone(), boundary, any::<String>()).prop_map(
        |(before, left, right, after)| (format!("{before}{left}"), format!("{right}{after}")),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_card_number_never_survives(card in card(), style in 0u8..3, (before, after) in around(), agent in any::<bool>()) {
        let text = format!("{before}{}{after}", typed(&card, style));
        let author = if agent { Author::Agent } else { Author::Customer };
        let masked = Masker::default().mask(author, &text);
        prop_assert!(masked.changed());
        prop_assert!(!digits_only(&masked.text).contains(&card), "{} kept {card}", masked.text);
    }

    #[test]
    fn a_number_failing_luhn_is_kept(number in not_a_card(), before in "[a-zA-Z .,!?]{0,20}", after in "[a-zA-Z.,!?][a-zA-Z .,!?]{0,20}") {
        let text = format!("{before} {number}{after}");
        let masked = Masker::default().mask(Author::Customer, &text);
        prop_assert_eq!(masked.text.as_ref(), text.as_str());
    }
}
