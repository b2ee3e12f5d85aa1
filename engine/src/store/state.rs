//! What the engine keeps in memory beside the stored data: accounts, users and tokens, the
//! inbox indexes, subscriptions, and each account's channels and contacts, keyed by account.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

use super::index::AccountIndex;
use super::records::{
    AccountRecord, ChannelRecord, ContactRecord, MandatoryRuleRecord, SubscriptionRecord,
    TokenOwner, UserRecord,
};
use crate::error::Error;
use crate::ids::{AccountId, UserId};
use crate::limits::Holding;
use crate::model::Category;
use crate::schedule::{DigestSchedule, QuietWindow};

/// What the engine keeps in memory: accounts, users, tokens and inbox indexes, and each
/// account's channels and contacts.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) accounts: HashMap<AccountId, AccountRecord>,
    pub(crate) account_names: HashMap<String, AccountId>,
    /// Every user by id (tokens name users by id); each account's are also in its
    /// [`Holdings`]. Changed only through [`State::put_user`] and [`State::remove_user`].
    users: HashMap<UserId, UserRecord>,
    pub(crate) tokens: HashMap<[u8; 32], TokenOwner>,
    pub(crate) inboxes: HashMap<AccountId, Arc<RwLock<AccountIndex>>>,
    pub(crate) subscriptions: HashMap<(AccountId, Category), Arc<Subscribed>>,
    /// The last digest tick closed per subscription, µs.
    pub(crate) digest_ticks: HashMap<(AccountId, Category), i64>,
    /// The operator's mandatory rules, by id; replaced whole on every change, so that
    /// routing holds them without the state's lock.
    pub(crate) mandatory: Arc<BTreeMap<u64, MandatoryRuleRecord>>,
    /// What each account holds, keyed by account: listing one account's channels, or
    /// checking a name or a limit, looks at that account only.
    holdings: HashMap<AccountId, Holdings>,
}

/// One account's users, channels and contacts, with their names.
#[derive(Default)]
struct Holdings {
    users: BTreeMap<UserId, ()>,
    user_names: HashMap<String, UserId>,
    channels: BTreeMap<u64, ChannelRecord>,
    channel_names: HashMap<String, u64>,
    contacts: BTreeMap<u64, ContactRecord>,
}

impl State {
    /// How many of `kind` the account holds.
    pub(crate) fn held(&self, account: AccountId, kind: Holding) -> usize {
        self.holdings.get(&account).map_or(0, |h| match kind {
            Holding::User => h.users.len(),
            Holding::Channel => h.channels.len(),
            Holding::Contact => h.contacts.len(),
        })
    }

    /// A user, by id.
    pub(crate) fn user(&self, id: UserId) -> Option<&UserRecord> {
        self.users.get(&id)
    }

    /// The users of `account`, by id.
    pub(crate) fn users_of(
        &self,
        account: AccountId,
    ) -> impl Iterator<Item = (UserId, &UserRecord)> + '_ {
        self.holdings
            .get(&account)
            .into_iter()
            .flat_map(|h| h.users.keys())
            .filter_map(|&id| self.users.get(&id).map(|r| (id, r)))
    }

    /// The user of `account` named `name`.
    pub(crate) fn user_named(&self, account: AccountId, name: &str) -> Option<UserId> {
        self.holdings.get(&account)?.user_names.get(name).copied()
    }

    /// A channel of `account`.
    pub(crate) fn channel(&self, account: AccountId, id: u64) -> Option<&ChannelRecord> {
        self.holdings.get(&account)?.channels.get(&id)
    }

    /// The channels of `account`, by id.
    pub(crate) fn channels_of(
        &self,
        account: AccountId,
    ) -> impl Iterator<Item = (u64, &ChannelRecord)> + '_ {
        self.holdings
            .get(&account)
            .into_iter()
            .flat_map(|h| h.channels.iter().map(|(&id, r)| (id, r)))
    }

    /// The channel of `account` named `name`.
    pub(crate) fn channel_named(&self, account: AccountId, name: &str) -> Option<u64> {
        self.holdings
            .get(&account)?
            .channel_names
            .get(name)
            .copied()
    }

    /// A contact of `account`.
    pub(crate) fn contact(&self, account: AccountId, id: u64) -> Option<&ContactRecord> {
        self.holdings.get(&account)?.contacts.get(&id)
    }

    /// The contacts of `account`, by id.
    pub(crate) fn contacts_of(
        &self,
        account: AccountId,
    ) -> impl Iterator<Item = (u64, &ContactRecord)> + '_ {
        self.holdings
            .get(&account)
            .into_iter()
            .flat_map(|h| h.contacts.iter().map(|(&id, r)| (id, r)))
    }

    /// Adds or replaces a user.
    pub(crate) fn put_user(&mut self, id: UserId, record: UserRecord) {
        let account = AccountId(record.account);
        let name = record.name.clone();
        if let Some(old) = self.users.insert(id, record)
            && let Some(h) = self.holdings.get_mut(&AccountId(old.account))
        {
            h.user_names.remove(&old.name);
            h.users.remove(&id);
        }
        let h = self.holdings.entry(account).or_default();
        h.users.insert(id, ());
        h.user_names.insert(name, id);
    }

    /// Removes a user.
    pub(crate) fn remove_user(&mut self, id: UserId) -> Option<UserRecord> {
        let gone = self.users.remove(&id)?;
        if let Some(h) = self.holdings.get_mut(&AccountId(gone.account)) {
            h.users.remove(&id);
            if h.user_names.get(&gone.name) == Some(&id) {
                h.user_names.remove(&gone.name);
            }
        }
        Some(gone)
    }

    /// Adds, replaces (`Some`) or removes (`None`) a channel.
    pub(crate) fn set_channel(
        &mut self,
        account: AccountId,
        id: u64,
        record: Option<ChannelRecord>,
    ) {
        let h = self.holdings.entry(account).or_default();
        let old = match record {
            Some(record) => {
                let name = record.name.clone();
                let old = h.channels.insert(id, record);
                if let Some(old) = &old {
                    h.channel_names.remove(&old.name);
                }
                h.channel_names.insert(name, id);
                return;
            }
            None => h.channels.remove(&id),
        };
        if let Some(old) = old
            && h.channel_names.get(&old.name) == Some(&id)
        {
            h.channel_names.remove(&old.name);
        }
    }

    /// Adds, replaces (`Some`) or removes (`None`) a contact.
    pub(crate) fn set_contact(
        &mut self,
        account: AccountId,
        id: u64,
        record: Option<ContactRecord>,
    ) {
        let h = self.holdings.entry(account).or_default();
        match record {
            Some(record) => {
                h.contacts.insert(id, record);
            }
            None => {
                h.contacts.remove(&id);
            }
        }
    }
}

/// A subscription with its digest schedule and quiet hours compiled.
#[derive(Debug)]
pub(crate) struct Subscribed {
    pub(crate) record: SubscriptionRecord,
    pub(crate) schedule: Option<DigestSchedule>,
    pub(crate) quiet: Option<QuietWindow>,
}

impl Subscribed {
    /// Compiles a stored subscription.
    pub(crate) fn new(record: SubscriptionRecord) -> Result<Subscribed, Error> {
        let schedule = match &record.digest {
            Some(d) => Some(DigestSchedule::parse(&d.cron, &d.timezone)?),
            None => None,
        };
        let quiet = match &record.quiet_hours {
            Some(q) => Some(QuietWindow::new(
                q.start,
                q.end,
                &q.timezone,
                q.pass.clone(),
            )?),
            None => None,
        };
        Ok(Subscribed {
            record,
            schedule,
            quiet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> ChannelRecord {
        ChannelRecord {
            name: name.into(),
            plugin: "webhook".into(),
            config: Vec::new(),
            sealed: false,
            created: 0,
            locale: None,
        }
    }

    #[test]
    fn holdings_are_per_account_and_names_follow_their_records() {
        let (a, b) = (AccountId(1), AccountId(2));
        let mut state = State::default();
        state.set_channel(a, 10, Some(channel("ops")));
        state.set_channel(a, 11, Some(channel("dev")));
        state.set_channel(b, 12, Some(channel("ops")));
        assert_eq!(state.channel_named(a, "ops"), Some(10));
        assert_eq!(state.channel_named(b, "ops"), Some(12));
        assert_eq!(
            state.channels_of(a).map(|(id, _)| id).collect::<Vec<_>>(),
            vec![10, 11]
        );
        assert_eq!(state.held(a, Holding::Channel), 2);
        // A renamed channel frees its old name; a deleted one its name and its count.
        state.set_channel(a, 11, Some(channel("staging")));
        assert_eq!(state.channel_named(a, "dev"), None);
        state.set_channel(a, 10, None);
        assert_eq!(state.channel_named(a, "ops"), None);
        assert_eq!(state.channel_named(b, "ops"), Some(12));
        assert_eq!(state.held(a, Holding::Channel), 1);
        assert!(state.channel(a, 12).is_none(), "another account's channel");

        let user = |account: AccountId, name: &str| UserRecord {
            account: account.0,
            name: name.into(),
            policies: Vec::new(),
            categories: None,
            created: 0,
            token_hash: [0; 32],
        };
        state.put_user(UserId(5), user(a, "ann"));
        state.put_user(UserId(3), user(a, "bob"));
        state.put_user(UserId(4), user(b, "ann"));
        assert_eq!(
            state.users_of(a).map(|(id, _)| id).collect::<Vec<_>>(),
            vec![UserId(3), UserId(5)]
        );
        assert_eq!(state.user_named(b, "ann"), Some(UserId(4)));
        assert!(state.remove_user(UserId(5)).is_some());
        assert_eq!(state.user_named(a, "ann"), None);
        assert_eq!(state.held(a, Holding::User), 1);
        assert_eq!(state.held(b, Holding::User), 1);
    }
}
