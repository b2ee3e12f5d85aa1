//! What the earlier jobs of a commit group changed, as the later jobs of the same group must
//! see it.
//!
//! The writer installs a group's effects in memory only after the commit, so the in-memory
//! state is the last commit's. Every rule a job checks (a name is free, a target exists, a
//! channel or contact is not in use, a message goes by its category's subscription) must
//! also see the jobs before it in the group, or two requests that share a commit miss each
//! other's changes. [`Staged`] holds those changes; each lookup here consults it first and
//! the committed state second. It must never be consulted across groups: it starts empty
//! with every group.
//!
//! The account limits are checked the same way: what an account holds as of the last commit
//! (counted in the state, no scan), plus what this group's earlier jobs added or removed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Effect, Tx};
use crate::error::Error;
use crate::ids::{AccountId, UserId};
use crate::limits::{Holding, limit_reached};
use crate::model::Category;
use crate::store::Subscribed;
use crate::store::records::{ChannelRecord, MandatoryRuleRecord, TargetKey};

/// The changes of this group's earlier jobs to what the writer's rules look at. `None`
/// means "removed in this group".
#[derive(Default)]
pub(super) struct Staged {
    account_names: HashMap<String, AccountId>,
    users: HashMap<UserId, Option<(u64, String)>>,
    channels: HashMap<(AccountId, u64), Option<ChannelRecord>>,
    contacts: HashMap<(AccountId, u64), bool>,
    subscriptions: HashMap<(AccountId, Category), Option<Arc<Subscribed>>>,
    /// The mandatory rules as this group left them, once one of its jobs changed them.
    mandatory: Option<Arc<BTreeMap<u64, MandatoryRuleRecord>>>,
    /// Per account and kind: how many more (or fewer) this group made than the last commit
    /// left.
    held: HashMap<(AccountId, Holding), isize>,
}

impl Tx<'_> {
    /// Records an effect to install after the commit, and stages it for the jobs after it.
    pub(crate) fn effect(&mut self, effect: Effect) {
        if let Some((key, change)) = self.holding_change(&effect) {
            *self.staged.held.entry(key).or_default() += change;
        }
        let staged = &mut self.staged;
        match &effect {
            Effect::Account(id, record, _) => {
                staged.account_names.insert(record.name.clone(), *id);
            }
            Effect::User(id, record) => {
                staged
                    .users
                    .insert(*id, Some((record.account, record.name.clone())));
            }
            Effect::UserGone(id, ..) => {
                staged.users.insert(*id, None);
            }
            Effect::Channel(account, id, record) => {
                staged.channels.insert((*account, *id), record.clone());
            }
            Effect::Contact(account, id, record) => {
                staged.contacts.insert((*account, *id), record.is_some());
            }
            Effect::Subscription(account, category, sub) => {
                staged
                    .subscriptions
                    .insert((*account, *category), sub.clone());
            }
            Effect::MandatoryRule(id, record) => {
                let mut rules = match staged.mandatory.take() {
                    Some(rules) => rules,
                    None => self.store.state.read().mandatory.clone(),
                };
                let map = Arc::make_mut(&mut rules);
                match record {
                    Some(record) => map.insert(*id, record.clone()),
                    None => map.remove(id),
                };
                staged.mandatory = Some(rules);
            }
            _ => {}
        }
        self.effects.push(effect);
    }

    /// How an effect changes what an account holds, judged against the earlier jobs of the
    /// group: a user or target that did not exist counts once more, one that is removed once
    /// less, a replaced one not at all.
    fn holding_change(&self, effect: &Effect) -> Option<((AccountId, Holding), isize)> {
        let (key, was, is) = match effect {
            Effect::User(id, record) => {
                let key = (AccountId(record.account), Holding::User);
                (key, self.user_exists(*id), true)
            }
            Effect::UserGone(id, account, _) => {
                let key = (AccountId(*account), Holding::User);
                (key, self.user_exists(*id), false)
            }
            Effect::Channel(account, id, record) => {
                let was = self.target_exists(*account, TargetKey::Channel(*id));
                ((*account, Holding::Channel), was, record.is_some())
            }
            Effect::Contact(account, id, record) => {
                let was = self.target_exists(*account, TargetKey::Contact(*id));
                ((*account, Holding::Contact), was, record.is_some())
            }
            _ => return None,
        };
        (was != is).then_some((key, if is { 1 } else { -1 }))
    }

    /// Refuses a create of `kind` in `account` when the account holds as many as its
    /// limit allows, counting this group's earlier creates and deletes.
    pub(crate) fn room_for(&self, account: AccountId, kind: Holding) -> Result<(), Error> {
        let limit = self.limits.of(kind);
        let state = self.store.state.read();
        let change = self.staged.held.get(&(account, kind)).copied().unwrap_or(0);
        let held = state.held(account, kind).saturating_add_signed(change);
        if held < limit {
            return Ok(());
        }
        let who = match state.accounts.get(&account) {
            Some(record) => format!("account '{}'", record.name),
            None => format!("account {account}"),
        };
        Err(limit_reached(&who, kind, held, limit))
    }

    /// Whether a user exists.
    fn user_exists(&self, id: UserId) -> bool {
        match self.staged.users.get(&id) {
            Some(staged) => staged.is_some(),
            None => self.store.state.read().user(id).is_some(),
        }
    }

    /// Whether an account already has this name.
    pub(crate) fn account_name_taken(&self, name: &str) -> bool {
        self.staged.account_names.contains_key(name)
            || self.store.state.read().account_names.contains_key(name)
    }

    /// Whether a user of `account` already has this name.
    pub(crate) fn user_name_taken(&self, account: u64, name: &str) -> bool {
        let staged = &self.staged.users;
        staged
            .values()
            .flatten()
            .any(|(a, n)| *a == account && n == name)
            || self
                .store
                .state
                .read()
                .user_named(AccountId(account), name)
                .is_some_and(|id| !staged.contains_key(&id))
    }

    /// Whether a channel of `account` already has this name.
    pub(crate) fn channel_name_taken(&self, account: AccountId, name: &str) -> bool {
        let staged = &self.staged.channels;
        staged
            .iter()
            .any(|((a, _), c)| *a == account && c.as_ref().is_some_and(|c| c.name == name))
            || self
                .store
                .state
                .read()
                .channel_named(account, name)
                .is_some_and(|id| !staged.contains_key(&(account, id)))
    }

    /// The plugin of a channel, if the channel exists.
    pub(crate) fn channel_plugin(&self, account: AccountId, id: u64) -> Option<String> {
        match self.staged.channels.get(&(account, id)) {
            Some(staged) => staged.as_ref().map(|c| c.plugin.clone()),
            None => self
                .store
                .state
                .read()
                .channel(account, id)
                .map(|c| c.plugin.clone()),
        }
    }

    /// Whether a channel or contact exists.
    pub(crate) fn target_exists(&self, account: AccountId, target: TargetKey) -> bool {
        match target {
            TargetKey::Channel(id) => self.channel_plugin(account, id).is_some(),
            TargetKey::Contact(id) => match self.staged.contacts.get(&(account, id)) {
                Some(&exists) => exists,
                None => self.store.state.read().contact(account, id).is_some(),
            },
        }
    }

    /// The subscription of a category.
    pub(crate) fn subscription(
        &self,
        account: AccountId,
        category: Category,
    ) -> Option<Arc<Subscribed>> {
        match self.staged.subscriptions.get(&(account, category)) {
            Some(staged) => staged.clone(),
            None => self
                .store
                .state
                .read()
                .subscriptions
                .get(&(account, category))
                .cloned(),
        }
    }

    /// The operator's mandatory rules, by id.
    pub(crate) fn mandatory_rules(&self) -> Arc<BTreeMap<u64, MandatoryRuleRecord>> {
        match &self.staged.mandatory {
            Some(rules) => rules.clone(),
            None => self.store.state.read().mandatory.clone(),
        }
    }
}
