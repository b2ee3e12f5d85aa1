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

use std::collections::HashMap;
use std::sync::Arc;

use super::{Effect, Group};
use crate::ids::{AccountId, UserId};
use crate::model::Category;
use crate::store::Subscribed;
use crate::store::records::{ChannelRecord, TargetKey};

/// The changes of this group's earlier jobs to what the writer's rules look at. `None`
/// means "removed in this group".
#[derive(Default)]
pub(super) struct Staged {
    account_names: HashMap<String, AccountId>,
    users: HashMap<UserId, Option<(u64, String)>>,
    channels: HashMap<(AccountId, u64), Option<ChannelRecord>>,
    contacts: HashMap<(AccountId, u64), bool>,
    subscriptions: HashMap<(AccountId, Category), Option<Arc<Subscribed>>>,
}

impl Group<'_> {
    /// Records an effect to install after the commit, and stages it for the jobs after it.
    pub(super) fn effect(&mut self, effect: Effect) {
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
            _ => {}
        }
        self.effects.push(effect);
    }

    /// Whether an account already has this name.
    pub(super) fn account_name_taken(&self, name: &str) -> bool {
        self.staged.account_names.contains_key(name)
            || self.store.state.read().account_names.contains_key(name)
    }

    /// Whether a user of `account` already has this name.
    pub(super) fn user_name_taken(&self, account: u64, name: &str) -> bool {
        let same = |a: u64, n: &str| a == account && n == name;
        let staged = &self.staged.users;
        staged.values().flatten().any(|(a, n)| same(*a, n))
            || self
                .store
                .state
                .read()
                .users
                .iter()
                .any(|(id, u)| !staged.contains_key(id) && same(u.account, &u.name))
    }

    /// Whether a channel of `account` already has this name.
    pub(super) fn channel_name_taken(&self, account: AccountId, name: &str) -> bool {
        let staged = &self.staged.channels;
        staged
            .iter()
            .any(|((a, _), c)| *a == account && c.as_ref().is_some_and(|c| c.name == name))
            || self
                .store
                .state
                .read()
                .channels
                .iter()
                .any(|(key, c)| key.0 == account && c.name == name && !staged.contains_key(key))
    }

    /// The plugin of a channel, if the channel exists.
    pub(super) fn channel_plugin(&self, account: AccountId, id: u64) -> Option<String> {
        match self.staged.channels.get(&(account, id)) {
            Some(staged) => staged.as_ref().map(|c| c.plugin.clone()),
            None => self
                .store
                .state
                .read()
                .channels
                .get(&(account, id))
                .map(|c| c.plugin.clone()),
        }
    }

    /// Whether a channel or contact exists.
    pub(super) fn target_exists(&self, account: AccountId, target: TargetKey) -> bool {
        match target {
            TargetKey::Channel(id) => self.channel_plugin(account, id).is_some(),
            TargetKey::Contact(id) => match self.staged.contacts.get(&(account, id)) {
                Some(&exists) => exists,
                None => self
                    .store
                    .state
                    .read()
                    .contacts
                    .contains_key(&(account, id)),
            },
        }
    }

    /// The subscription of a category.
    pub(super) fn subscription(
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
}
