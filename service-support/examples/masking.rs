//! What masking costs per message: `cargo run --release -p service-support --example masking`.
//! Prints nanoseconds per text for texts with and without card numbers, beside the skill's and the
//! live chat's per-message budget at their measured rates (docs/performance.md).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use service_support::masking::{Author, Masker, MaskingSettings, RuleSettings};

fn main() {
    let texts = [
        ("plain words, 120 chars", "Hello, my printer stopped working after the update yesterday and now it only prints blank pages. Can you help me please?".to_owned()),
        ("order number, not a card", "My order 4111111111111112 has not arrived; the tracking page says it left the warehouse on Monday.".to_owned()),
        ("a card number", "Please refund the card 4111 1111 1111 1111, the charge was made twice this morning.".to_owned()),
        ("2,000 chars of words", "word ".repeat(400)),
    ];
    let built_in = Masker::default();
    let with_rule = Masker::new(&MaskingSettings {
        card_numbers: true,
        rules: vec![RuleSettings {
            name: "us-ssn".into(),
            pattern: r"\b\d{3}-\d{2}-\d{4}\b".into(),
            replacement: "[SSN removed]".into(),
            applies_to: service_support::masking::AppliesTo::Both,
        }],
    })
    .unwrap();
    const ROUNDS: u32 = 200_000;
    for (masker_name, masker) in [
        ("built-in card rule", &built_in),
        ("card rule + one regex", &with_rule),
    ] {
        for (name, text) in &texts {
            let started = Instant::now();
            let mut changed = 0usize;
            for _ in 0..ROUNDS {
                changed += usize::from(
                    masker
                        .mask(Author::Customer, std::hint::black_box(text))
                        .changed(),
                );
            }
            let each = started.elapsed().as_nanos() / u128::from(ROUNDS);
            println!(
                "{masker_name:<22} {name:<26} {each:>6} ns per text (masked: {})",
                changed > 0
            );
        }
    }
}
