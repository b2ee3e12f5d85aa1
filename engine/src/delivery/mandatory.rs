//! Mandatory notices: the operator marks kinds of notices (a category, optionally some
//! subtypes, at least a severity) as mandatory, like a provider's notices that cannot be
//! unsubscribed. A message such a rule covers reaches every target of its category's
//! subscription whatever the subscription's subtypes and minimum severity say (see
//! `routing`), and a subscription of a covered category may not be deleted nor left without
//! a target: the command refuses with [`Error::MandatoryRule`], naming the rule.
//!
//! An account that has no subscription for the category, or one without targets (set before
//! the rule existed), receives such notices in its inbox only:
//! [`Engine::accounts_without_target`] lists those accounts for the operator.
//!
//! Rules are the operator's: creating and deleting them is recorded in the operator's
//! history, not in the accounts'.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::MAX_SUBTYPES;
use super::commands::{CreateRule, DeleteRule};
use super::routing;
use crate::access::{Action, Principal, require};
use crate::accounts::validate_name;
use crate::clock::{from_micros, micros};
use crate::engine::Engine;
use crate::error::Error;
use crate::ids::{AccountId, RuleId};
use crate::model::{Category, Severity};
use crate::store::records::{ActorRecord, MandatoryRuleRecord};

/// A mandatory rule: notices of its category (of its subtypes, when it lists some) at
/// least as severe as its minimum reach the category's subscribed targets whatever the
/// subscription's filters say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandatoryRule {
    /// The rule's id.
    pub id: RuleId,
    /// Its name, unique among the rules, shown in refusals and routing explanations.
    pub name: String,
    /// The category it covers.
    pub category: Category,
    /// Only these subtypes; `None` for every subtype.
    pub subtypes: Option<Vec<String>>,
    /// Only notices at least this severe.
    pub min_severity: Severity,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a new mandatory rule is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMandatoryRule {
    /// A name, unique among the rules.
    pub name: String,
    /// The category it covers.
    pub category: Category,
    /// Only these subtypes (at least one); `None` for every subtype.
    #[serde(default)]
    pub subtypes: Option<Vec<String>>,
    /// Only notices at least this severe; `info` (all) when `None`.
    #[serde(default)]
    pub min_severity: Option<Severity>,
}

/// Why an account has no target for a mandatory kind of notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingTarget {
    /// The account has no subscription for the rule's category.
    NoSubscription,
    /// Its subscription names no channel and no contact.
    NoTargets,
}

/// An account that a mandatory rule's notices reach in the inbox only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountWithoutTarget {
    /// The account's id.
    pub account_id: AccountId,
    /// Its name.
    pub name: String,
    /// Why it has no target.
    pub reason: MissingTarget,
}

/// The rule as the API shows it.
pub(crate) fn rule_of(id: u64, record: &MandatoryRuleRecord) -> MandatoryRule {
    MandatoryRule {
        id: RuleId(id),
        name: record.name.clone(),
        category: record.category,
        subtypes: record.subtypes.clone(),
        min_severity: record.min_severity,
        created_at: from_micros(record.created),
    }
}

/// What a rule covers, in words: "security notices of subtype breach, at least warning".
pub(crate) fn describe(rule: &MandatoryRuleRecord) -> String {
    let mut text = format!("{} notices", rule.category);
    if let Some(subtypes) = &rule.subtypes {
        text.push_str(&format!(" of subtype {}", subtypes.join(", ")));
    }
    if rule.min_severity != Severity::Info {
        text.push_str(&format!(", at least {}", rule.min_severity));
    }
    text
}

fn rule_not_found(id: RuleId) -> Error {
    Error::NotFound(format!("mandatory rule {id} does not exist"))
}

impl Engine {
    /// Creates a mandatory rule (operator only). From its commit on, the notices it covers
    /// reach their category's subscribed targets whatever the subscriptions' filters, and
    /// no subscription of the category may be deleted or left without a target.
    pub async fn create_mandatory_rule(
        &self,
        principal: &Principal,
        rule: NewMandatoryRule,
    ) -> Result<MandatoryRule, Error> {
        require(principal, Action::ManageMandatoryRules, None)?;
        validate_name("name", &rule.name)?;
        let subtypes = match rule.subtypes {
            Some(list) if list.is_empty() => {
                return Err(Error::invalid(
                    "subtypes",
                    "subtypes must list at least one subtype, or be left out for every subtype",
                ));
            }
            Some(list) if list.len() > MAX_SUBTYPES => {
                return Err(Error::invalid(
                    "subtypes",
                    format!("at most {MAX_SUBTYPES} subtypes; leave it out for every subtype"),
                ));
            }
            Some(mut list) => {
                for subtype in &list {
                    crate::model::check_subtype("subtypes", subtype)?;
                }
                list.sort();
                list.dedup();
                Some(list)
            }
            None => None,
        };
        let id = crate::ids::fresh_id();
        let record = MandatoryRuleRecord {
            name: rule.name,
            category: rule.category,
            subtypes,
            min_severity: rule.min_severity.unwrap_or(Severity::Info),
            created: micros(self.now()),
        };
        let answer = rule_of(id, &record);
        self.submit(CreateRule {
            id,
            record,
            by: ActorRecord::of(principal),
        })
        .await?;
        Ok(answer)
    }

    /// Every mandatory rule, oldest first (operator only).
    pub fn mandatory_rules(&self, principal: &Principal) -> Result<Vec<MandatoryRule>, Error> {
        require(principal, Action::ManageMandatoryRules, None)?;
        let rules = self.inner.store.state.read().mandatory.clone();
        let mut list: Vec<MandatoryRule> = rules.iter().map(|(&id, r)| rule_of(id, r)).collect();
        list.sort_by_key(|r| (r.created_at, r.id));
        Ok(list)
    }

    /// One mandatory rule (operator only).
    pub fn mandatory_rule(
        &self,
        principal: &Principal,
        id: RuleId,
    ) -> Result<MandatoryRule, Error> {
        require(principal, Action::ManageMandatoryRules, None)?;
        let rules = self.inner.store.state.read().mandatory.clone();
        rules
            .get(&id.0)
            .map(|r| rule_of(id.0, r))
            .ok_or_else(|| rule_not_found(id))
    }

    /// Deletes a mandatory rule (operator only); its notices follow the subscriptions'
    /// filters again.
    pub async fn delete_mandatory_rule(
        &self,
        principal: &Principal,
        id: RuleId,
    ) -> Result<(), Error> {
        require(principal, Action::ManageMandatoryRules, None)?;
        self.submit(DeleteRule {
            id: id.0,
            by: ActorRecord::of(principal),
        })
        .await
    }

    /// The accounts that have no target at all for the notices of rule `id`: no
    /// subscription for its category, or one without channels and contacts. They receive
    /// those notices in their inbox only. Oldest account first (operator only).
    pub fn accounts_without_target(
        &self,
        principal: &Principal,
        id: RuleId,
    ) -> Result<Vec<AccountWithoutTarget>, Error> {
        require(principal, Action::ManageMandatoryRules, None)?;
        let state = self.inner.store.state.read();
        let rule = state
            .mandatory
            .get(&id.0)
            .ok_or_else(|| rule_not_found(id))?;
        let mut found: Vec<(i64, AccountWithoutTarget)> = state
            .accounts
            .iter()
            .filter_map(|(&account, record)| {
                let reason = match state.subscriptions.get(&(account, rule.category)) {
                    None => MissingTarget::NoSubscription,
                    Some(sub) if routing::targets(&sub.record).next().is_none() => {
                        MissingTarget::NoTargets
                    }
                    Some(_) => return None,
                };
                Some((
                    record.created,
                    AccountWithoutTarget {
                        account_id: account,
                        name: record.name.clone(),
                        reason,
                    },
                ))
            })
            .collect();
        found.sort_by_key(|(created, a)| (*created, a.account_id));
        Ok(found.into_iter().map(|(_, a)| a).collect())
    }
}
