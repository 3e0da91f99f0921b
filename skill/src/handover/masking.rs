//! Sensitive data in what a customer writes is masked before anything of it is stored for the live
//! chat, by the same rules Contoso Live Chat applies (`service_support::masking`): the words, the
//! problem description, a card's submitted values, a left message and a rating's comment.

use service_support::masking::{Author, Masker};

use crate::domain::{ContentNote, HandoverRequest};

/// `request` with every customer text masked.
pub(in crate::handover) fn masked(masker: &Masker, request: HandoverRequest) -> HandoverRequest {
    let mask = |text: String| masker.mask_owned(Author::Customer, text);
    let mask_option = |text: Option<String>| text.map(mask);
    match request {
        HandoverRequest::Start(mut start) => {
            start.problem_description = mask_option(start.problem_description);
            HandoverRequest::Start(start)
        }
        HandoverRequest::Message(mut message) => {
            message.text = mask(message.text);
            message.problem_description = mask_option(message.problem_description);
            for note in &mut message.notes {
                if let ContentNote::CardSubmit(values) = note {
                    for (_, value) in values.iter_mut() {
                        *value = mask(std::mem::take(value));
                    }
                }
            }
            HandoverRequest::Message(message)
        }
        HandoverRequest::LeaveMessage(mut left) => {
            left.message = mask(left.message);
            left.start.problem_description = mask_option(left.start.problem_description);
            HandoverRequest::LeaveMessage(left)
        }
        HandoverRequest::Rate(mut rate) => {
            rate.comment = mask_option(rate.comment);
            HandoverRequest::Rate(rate)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CopilotConversationId, RateRequest, SessionKeys};

    #[test]
    fn a_rating_comment_loses_its_card_number() {
        let request = HandoverRequest::Rate(RateRequest {
            keys: SessionKeys {
                conversation: CopilotConversationId::parse("a:1")
                    .unwrap_or_else(|_| unreachable!()),
                origin: None,
                livechat_input: None,
            },
            id: None,
            rating: "5".into(),
            comment: Some("charged 4111 1111 1111 1111 twice".into()),
        });
        let HandoverRequest::Rate(rate) = masked(&Masker::default(), request) else {
            unreachable!("a rating stays a rating");
        };
        assert_eq!(
            rate.comment.as_deref(),
            Some("charged [card number removed] twice")
        );
    }
}
