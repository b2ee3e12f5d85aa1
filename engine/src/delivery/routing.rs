//! The routing rule as pure functions: whether a subscription takes a message, and if not
//! why, and which targets it names. Publishing (in the writer's transaction) and
//! [`crate::Engine::explain_routing`] both decide through [`verdict`], so an explanation
//! cannot drift from what publishing does.

use crate::model::Severity;
use crate::store::records::{SubscriptionRecord, TargetKey};

/// What a subscription makes of a message of its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It takes the message: each of its targets gets a delivery (or the next digest).
    Takes,
    /// The message's severity is below the subscription's minimum.
    BelowMinimum,
    /// The subscription lists subtypes, and the message's (or its lack of one) is not
    /// among them.
    SubtypeNotListed,
}

/// Whether `subscription` takes a message of `severity` and `subtype`, and if not, why.
/// Severity is judged first: a message both too mild and of another subtype is
/// [`Verdict::BelowMinimum`].
pub(crate) fn verdict(
    subscription: &SubscriptionRecord,
    severity: Severity,
    subtype: Option<&str>,
) -> Verdict {
    if severity.index() < subscription.min_severity.index() {
        return Verdict::BelowMinimum;
    }
    match &subscription.subtypes {
        None => Verdict::Takes,
        Some(listed) if subtype.is_some_and(|s| listed.iter().any(|t| t == s)) => Verdict::Takes,
        Some(_) => Verdict::SubtypeNotListed,
    }
}

/// The targets of a subscription: its channels, then its contacts, in the order given.
pub(crate) fn targets(subscription: &SubscriptionRecord) -> impl Iterator<Item = TargetKey> + '_ {
    let channels = subscription
        .channels
        .iter()
        .map(|&id| TargetKey::Channel(id));
    let contacts = subscription
        .contacts
        .iter()
        .map(|&id| TargetKey::Contact(id));
    channels.chain(contacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(min: Severity, subtypes: Option<&[&str]>) -> SubscriptionRecord {
        SubscriptionRecord {
            subtypes: subtypes.map(|s| s.iter().map(|t| (*t).to_owned()).collect()),
            min_severity: min,
            contacts: vec![7, 8],
            channels: vec![3],
            digest: None,
            updated: 0,
            quiet_hours: None,
        }
    }

    #[test]
    fn severity_at_or_above_the_minimum_is_taken_without_a_subtype_list() {
        let sub = subscription(Severity::Warning, None);
        assert_eq!(verdict(&sub, Severity::Warning, None), Verdict::Takes);
        assert_eq!(verdict(&sub, Severity::Critical, Some("x")), Verdict::Takes);
        assert_eq!(verdict(&sub, Severity::Info, None), Verdict::BelowMinimum);
    }

    #[test]
    fn a_subtype_list_takes_only_its_subtypes_and_never_a_message_without_one() {
        let sub = subscription(Severity::Info, Some(&["low-balance", "overdue"]));
        assert_eq!(
            verdict(&sub, Severity::Info, Some("overdue")),
            Verdict::Takes
        );
        assert_eq!(
            verdict(&sub, Severity::Info, Some("low-balance-2")),
            Verdict::SubtypeNotListed
        );
        assert_eq!(
            verdict(&sub, Severity::Info, None),
            Verdict::SubtypeNotListed
        );
        // An empty list takes nothing.
        let none = subscription(Severity::Info, Some(&[]));
        assert_eq!(
            verdict(&none, Severity::Critical, Some("a")),
            Verdict::SubtypeNotListed
        );
    }

    #[test]
    fn severity_is_judged_before_the_subtype() {
        let sub = subscription(Severity::Critical, Some(&["a"]));
        assert_eq!(
            verdict(&sub, Severity::Info, Some("b")),
            Verdict::BelowMinimum
        );
    }

    #[test]
    fn targets_are_the_channels_then_the_contacts() {
        let sub = subscription(Severity::Info, None);
        assert_eq!(
            targets(&sub).collect::<Vec<_>>(),
            vec![
                TargetKey::Channel(3),
                TargetKey::Contact(7),
                TargetKey::Contact(8)
            ]
        );
    }
}
