//! Subscriptions: which targets each new message of a category goes to, set, read and
//! deleted per category, and routing explained in words from the same rule the writer
//! applies when it routes.

// The types, presentation and checks this file shares with the rest of delivery.
use super::*;
use crate::delivery::commands::{DeleteSubscription, PutSubscription};
use crate::ids::RuleId;

/// Reads quiet hours as given into their stored form; errors name the field.
fn quiet_record(quiet: QuietHours) -> Result<crate::store::records::QuietHoursRecord, Error> {
    let start = crate::schedule::parse_clock_time("quiet_hours.start", quiet.start.trim())?;
    let end = crate::schedule::parse_clock_time("quiet_hours.end", quiet.end.trim())?;
    let mut pass = quiet.pass;
    pass.sort_by_key(|s| s.index());
    pass.dedup();
    Ok(crate::store::records::QuietHoursRecord {
        start,
        end,
        timezone: quiet.timezone.trim().to_owned(),
        pass,
    })
}

impl Engine {
    /// Sets (replaces) the subscription of `category`. Unknown contact or channel ids, a bad
    /// cron expression or time zone are errors naming the field. Whatever a previous digest
    /// of this category had gathered is sent at once, so nothing is lost by the change.
    pub async fn put_subscription(
        &self,
        principal: &Principal,
        account: AccountId,
        category: Category,
        spec: SubscriptionSpec,
    ) -> Result<Subscription, Error> {
        scoped(principal, Action::ManageConfig, account, category)?;
        self.check_account(account)?;
        let subtypes = match spec.subtypes {
            Some(list) => {
                if list.len() > MAX_SUBTYPES {
                    return Err(Error::invalid(
                        "subtypes",
                        format!(
                            "at most {MAX_SUBTYPES} subtypes; leave it out to take every subtype"
                        ),
                    ));
                }
                for subtype in &list {
                    crate::model::check_subtype("subtypes", subtype)?;
                }
                let mut list = list;
                list.sort();
                list.dedup();
                Some(list)
            }
            None => None,
        };
        if spec.channels.len() > MAX_TARGETS || spec.contacts.len() > MAX_TARGETS {
            return Err(Error::invalid(
                "channels",
                format!("at most {MAX_TARGETS} channels and {MAX_TARGETS} contacts"),
            ));
        }
        {
            let state = self.inner.store.state.read();
            if let Some(id) = spec
                .channels
                .iter()
                .find(|id| state.channel(account, id.0).is_none())
            {
                return Err(Error::invalid(
                    "channels",
                    format!("channel {id} does not exist in this account"),
                ));
            }
            if let Some(id) = spec
                .contacts
                .iter()
                .find(|id| state.contact(account, id.0).is_none())
            {
                return Err(Error::invalid(
                    "contacts",
                    format!("contact {id} does not exist in this account"),
                ));
            }
        }
        let dedup = |mut ids: Vec<u64>| {
            let mut seen = std::collections::HashSet::new();
            ids.retain(|id| seen.insert(*id));
            ids
        };
        let record = SubscriptionRecord {
            subtypes,
            min_severity: spec.min_severity.unwrap_or(Severity::Info),
            contacts: dedup(spec.contacts.iter().map(|c| c.0).collect()),
            channels: dedup(spec.channels.iter().map(|c| c.0).collect()),
            digest: spec.digest.map(|d| DigestRecord {
                cron: d.cron.trim().to_owned(),
                timezone: d.timezone.trim().to_owned(),
            }),
            updated: micros(self.now()),
            quiet_hours: spec.quiet_hours.map(quiet_record).transpose()?,
        };
        let subscribed = std::sync::Arc::new(Subscribed::new(record)?);
        let answer = subscription_of(category, &subscribed.record);
        self.submit(PutSubscription {
            account,
            category,
            subscription: subscribed,
            by: ActorRecord::of(principal),
        })
        .await?;
        Ok(answer)
    }

    /// The account's subscriptions the caller may see, one per configured category.
    pub fn subscriptions(
        &self,
        principal: &Principal,
        account: AccountId,
    ) -> Result<Vec<Subscription>, Error> {
        require(principal, Action::ReadConfig, Some(account))?;
        self.check_account(account)?;
        let state = self.inner.store.state.read();
        let mut list: Vec<Subscription> = Category::ALL
            .into_iter()
            .filter(|&c| authorize(principal, Action::ReadConfig, Some(account), Some(c)).is_ok())
            .filter_map(|c| {
                state
                    .subscriptions
                    .get(&(account, c))
                    .map(|s| subscription_of(c, &s.record))
            })
            .collect();
        list.sort_by_key(|s| s.category.index());
        Ok(list)
    }

    /// The subscription of one category.
    pub fn subscription(
        &self,
        principal: &Principal,
        account: AccountId,
        category: Category,
    ) -> Result<Subscription, Error> {
        // A subscription of a category outside the caller's scope is invisible: 404, as a
        // message of such a category is.
        match authorize(principal, Action::ReadConfig, Some(account), Some(category)) {
            Ok(()) => {}
            Err(Denied::Forbidden(why)) => return Err(Error::Forbidden(why)),
            Err(Denied::OutOfScope) => {
                return Err(Error::NotFound(format!(
                    "there is no subscription for category '{category}'"
                )));
            }
        }
        self.check_account(account)?;
        let state = self.inner.store.state.read();
        state
            .subscriptions
            .get(&(account, category))
            .map(|s| subscription_of(category, &s.record))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "there is no subscription for category '{category}'"
                ))
            })
    }

    /// Deletes the subscription of `category`; a digest it was gathering is sent at once.
    pub async fn delete_subscription(
        &self,
        principal: &Principal,
        account: AccountId,
        category: Category,
    ) -> Result<(), Error> {
        scoped(principal, Action::ManageConfig, account, category)?;
        self.check_account(account)?;
        self.submit(DeleteSubscription {
            account,
            category,
            by: ActorRecord::of(principal),
        })
        .await
        .map(drop)
    }

    /// Where `message` would go if it were published into `account` now, and why: the
    /// subscription of its category, whether it takes the message, and each target.
    pub fn explain_routing(
        &self,
        principal: &Principal,
        account: AccountId,
        message: NewMessage,
    ) -> Result<Routing, Error> {
        let message = message.validate()?;
        scoped(principal, Action::ReadConfig, account, message.category)?;
        self.check_account(account)?;
        let record = MessageRecord {
            category: message.category,
            severity: message.severity,
            created: micros(self.now()),
            subtype: message.subtype,
            title: message.title,
            body: message.body,
            link: message.link,
            resource: message.resource,
            dedupe_key: message.dedupe_key,
        };
        let state = self.inner.store.state.read();
        let category = record.category;
        let rules = state.mandatory.clone();
        let covering =
            routing::mandatory_rule(&rules, category, record.severity, record.subtype.as_deref())
                .and_then(|id| rules.get(&id).map(|r| (id, r)));
        let mandatory_rule = covering.map(|(id, r)| mandatory::rule_of(id, r));
        let Some(sub) = state.subscriptions.get(&(account, category)) else {
            let mut reason = format!(
                "category '{category}' has no subscription: the message reaches the inbox only"
            );
            if let Some((id, rule)) = covering {
                reason.push_str(&format!(
                    "; the operator's mandatory rule '{}' ({}) covers it, but this account has \
                     no target for it",
                    rule.name,
                    RuleId(id)
                ));
            }
            return Ok(Routing {
                category,
                matched: false,
                reason,
                subscription: None,
                targets: Vec::new(),
                mandatory_rule,
            });
        };
        let verdict = routing::verdict(
            &sub.record,
            &rules,
            category,
            record.severity,
            record.subtype.as_deref(),
        );
        let matched = verdict.takes();
        let mandatory_rule = verdict
            .mandatory()
            .and_then(|id| rules.get(&id).map(|r| mandatory::rule_of(id, r)));
        let reason = match verdict {
            routing::Verdict::Mandatory(id) => {
                let name = rules.get(&id).map_or("", |r| r.name.as_str());
                let mut why = format!(
                    "the operator's mandatory rule '{name}' ({}) covers it: it goes to every \
                     target of the subscription of '{category}', whatever the subscription's \
                     subtypes, minimum severity and quiet hours say",
                    RuleId(id)
                );
                if sub.schedule.is_some() {
                    why.push_str("; it is gathered into the next digest");
                }
                why
            }
            routing::Verdict::Takes => {
                let mut why = format!("the subscription of '{category}' takes it");
                if let Some(subtypes) = &sub.record.subtypes {
                    why.push_str(&format!(" (subtype among {})", subtypes.join(", ")));
                }
                why.push_str(&format!(
                    " (severity {} is at least {})",
                    record.severity, sub.record.min_severity
                ));
                if sub.schedule.is_some() {
                    why.push_str("; it is gathered into the next digest");
                } else if let Some(quiet) = &sub.quiet {
                    match quiet.held_until(record.created, record.severity) {
                        Some(end) => why.push_str(&format!(
                            "; quiet hours ({}) hold it until {}",
                            quiet.describe(),
                            crate::format_time(from_micros(end))
                        )),
                        None if quiet.held_until(record.created, Severity::Info).is_some() => why
                            .push_str(&format!(
                                "; severity {} goes out during the quiet hours ({})",
                                record.severity,
                                quiet.describe()
                            )),
                        None => {}
                    }
                }
                why
            }
            routing::Verdict::BelowMinimum => format!(
                "severity {} is below the subscription's minimum {}",
                record.severity, sub.record.min_severity
            ),
            routing::Verdict::SubtypeNotListed => format!(
                "subtype {} is not among the subscription's subtypes ({})",
                record.subtype.as_deref().unwrap_or("(none)"),
                sub.record
                    .subtypes
                    .as_deref()
                    .unwrap_or_default()
                    .join(", ")
            ),
        };
        let digest_at = sub
            .schedule
            .as_ref()
            .and_then(|s| s.next_after(record.created))
            .map(from_micros);
        // Quiet hours hold no mandatory notice.
        let held_until = match (&sub.schedule, &sub.quiet) {
            (None, Some(quiet)) if mandatory_rule.is_none() => quiet
                .held_until(record.created, record.severity)
                .map(from_micros),
            _ => None,
        };
        let targets = if matched {
            routing::targets(&sub.record)
                .filter_map(|target| {
                    let (name, plugin) = match target {
                        TargetKey::Channel(id) => state
                            .channel(account, id)
                            .map(|c| (c.name.clone(), c.plugin.clone()))?,
                        TargetKey::Contact(id) => state
                            .contact(account, id)
                            .map(|c| (c.name.clone(), EMAIL_PLUGIN.to_owned()))?,
                    };
                    let (target, target_id) = target_text(target);
                    Some(Route {
                        target,
                        target_id,
                        name,
                        plugin,
                        digest_at,
                        held_until,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Routing {
            category,
            matched,
            reason,
            subscription: Some(subscription_of(category, &sub.record)),
            targets,
            mandatory_rule,
        })
    }
}
