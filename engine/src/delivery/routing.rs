//! The routing rule as pure functions: whether a subscription takes a message, and if not
//! why, which targets it names, and which of the operator's mandatory rules cover a
//! message. Publishing (in the writer's transaction) and [`crate::Engine::explain_routing`]
//! both decide through [`verdict`], so an explanation cannot drift from what publishing
//! does.
//!
//! A mandatory rule overrides the subscription's own filters: a message it covers reaches
//! every target of its category's subscription whatever the subscription's subtypes and
//! minimum severity say. The verdict says so ([`Verdict::Mandatory`] carries the rule), so
//! whatever else holds a delivery back (quiet hours, an unsubscribe link) can consult the
//! same fact.

use std::collections::BTreeMap;

use crate::model::{Category, Severity};
use crate::store::records::{MandatoryRuleRecord, SubscriptionRecord, TargetKey};

/// The operator's mandatory rules, by id.
pub(crate) type Rules = BTreeMap<u64, MandatoryRuleRecord>;

/// What a subscription makes of a message of its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It takes the message: each of its targets gets a delivery (or the next digest).
    Takes,
    /// A mandatory rule (this id) covers the message: each target gets it, whatever the
    /// subscription's filters say, and nothing may hold it back.
    Mandatory(u64),
    /// The message's severity is below the subscription's minimum.
    BelowMinimum,
    /// The subscription lists subtypes, and the message's (or its lack of one) is not
    /// among them.
    SubtypeNotListed,
}

impl Verdict {
    /// Whether the message goes to the subscription's targets.
    pub(crate) fn takes(self) -> bool {
        matches!(self, Verdict::Takes | Verdict::Mandatory(_))
    }

    /// The mandatory rule that covers the message, if one does.
    pub(crate) fn mandatory(self) -> Option<u64> {
        match self {
            Verdict::Mandatory(rule) => Some(rule),
            _ => None,
        }
    }
}

/// Whether a mandatory rule covers a message of `category`, `severity` and `subtype`: its
/// category, at least its minimum severity, and (when it lists subtypes) one of them.
pub(crate) fn covers(
    rule: &MandatoryRuleRecord,
    category: Category,
    severity: Severity,
    subtype: Option<&str>,
) -> bool {
    rule.category == category
        && severity.index() >= rule.min_severity.index()
        && match &rule.subtypes {
            None => true,
            Some(listed) => subtype.is_some_and(|s| listed.iter().any(|t| t == s)),
        }
}

/// The first mandatory rule (lowest id) that covers the message, if any.
pub(crate) fn mandatory_rule(
    rules: &Rules,
    category: Category,
    severity: Severity,
    subtype: Option<&str>,
) -> Option<u64> {
    rules
        .iter()
        .find(|(_, rule)| covers(rule, category, severity, subtype))
        .map(|(&id, _)| id)
}

/// The mandatory rules of a category: while one exists, the category's subscription may
/// not be deleted nor left without a target.
pub(crate) fn rules_of(
    rules: &Rules,
    category: Category,
) -> impl Iterator<Item = (u64, &MandatoryRuleRecord)> {
    rules
        .iter()
        .filter(move |(_, rule)| rule.category == category)
        .map(|(&id, rule)| (id, rule))
}

/// Whether `subscription` (of `category`) takes a message of `severity` and `subtype`, and
/// if not, why. A mandatory rule that covers the message decides first; then severity: a
/// message both too mild and of another subtype is [`Verdict::BelowMinimum`].
pub(crate) fn verdict(
    subscription: &SubscriptionRecord,
    rules: &Rules,
    category: Category,
    severity: Severity,
    subtype: Option<&str>,
) -> Verdict {
    if let Some(rule) = mandatory_rule(rules, category, severity, subtype) {
        return Verdict::Mandatory(rule);
    }
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
        assert_eq!(
            verdict(
                &sub,
                &Rules::new(),
                Category::Security,
                Severity::Warning,
                None
            ),
            Verdict::Takes
        );
        assert_eq!(
            verdict(
                &sub,
                &Rules::new(),
                Category::Security,
                Severity::Critical,
                Some("x")
            ),
            Verdict::Takes
        );
        assert_eq!(
            verdict(
                &sub,
                &Rules::new(),
                Category::Security,
                Severity::Info,
                None
            ),
            Verdict::BelowMinimum
        );
    }

    #[test]
    fn a_subtype_list_takes_only_its_subtypes_and_never_a_message_without_one() {
        let sub = subscription(Severity::Info, Some(&["low-balance", "overdue"]));
        assert_eq!(
            verdict(
                &sub,
                &Rules::new(),
                Category::Security,
                Severity::Info,
                Some("overdue")
            ),
            Verdict::Takes
        );
        assert_eq!(
            verdict(
                &sub,
                &Rules::new(),
                Category::Security,
                Severity::Info,
                Some("low-balance-2")
            ),
            Verdict::SubtypeNotListed
        );
        assert_eq!(
            verdict(
                &sub,
                &Rules::new(),
                Category::Security,
                Severity::Info,
                None
            ),
            Verdict::SubtypeNotListed
        );
        // An empty list takes nothing.
        let none = subscription(Severity::Info, Some(&[]));
        assert_eq!(
            verdict(
                &none,
                &Rules::new(),
                Category::Security,
                Severity::Critical,
                Some("a")
            ),
            Verdict::SubtypeNotListed
        );
    }

    #[test]
    fn severity_is_judged_before_the_subtype() {
        let sub = subscription(Severity::Critical, Some(&["a"]));
        assert_eq!(
            verdict(
                &sub,
                &Rules::new(),
                Category::Security,
                Severity::Info,
                Some("b")
            ),
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

    fn rule(subtypes: Option<&[&str]>, min: Severity) -> MandatoryRuleRecord {
        MandatoryRuleRecord {
            name: "breach".into(),
            category: Category::Security,
            subtypes: subtypes.map(|s| s.iter().map(|t| (*t).to_owned()).collect()),
            min_severity: min,
            created: 0,
        }
    }

    #[test]
    fn a_mandatory_rule_overrides_the_subscriptions_subtype_and_severity_filters() {
        let sub = subscription(Severity::Critical, Some(&["other"]));
        let rules = Rules::from([(9, rule(Some(&["breach"]), Severity::Warning))]);
        let verdict =
            |severity, subtype| verdict(&sub, &rules, Category::Security, severity, subtype);
        assert_eq!(
            verdict(Severity::Warning, Some("breach")),
            Verdict::Mandatory(9)
        );
        assert!(verdict(Severity::Warning, Some("breach")).takes());
        // Below the rule's minimum, or of a subtype it does not list: the filters decide.
        assert_eq!(
            verdict(Severity::Info, Some("breach")),
            Verdict::BelowMinimum
        );
        assert_eq!(
            verdict(Severity::Critical, Some("x")),
            Verdict::SubtypeNotListed
        );
        // A rule of another category covers nothing here.
        let elsewhere = Rules::from([(9, rule(None, Severity::Info))]);
        assert_eq!(
            super::verdict(
                &sub,
                &elsewhere,
                Category::Account,
                Severity::Critical,
                None
            ),
            Verdict::SubtypeNotListed
        );
    }

    #[test]
    fn the_lowest_covering_rule_is_named_even_when_the_subscription_takes_the_message() {
        let sub = subscription(Severity::Info, None);
        let rules = Rules::from([
            (3, rule(Some(&["x"]), Severity::Info)),
            (5, rule(None, Severity::Info)),
            (7, rule(None, Severity::Info)),
        ]);
        assert_eq!(
            verdict(&sub, &rules, Category::Security, Severity::Info, None),
            Verdict::Mandatory(5)
        );
    }
}
