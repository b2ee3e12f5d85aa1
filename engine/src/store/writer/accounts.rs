//! The writer's account jobs: accounts and users, with their names unique and their tokens
//! indexed, in the group's transaction.

use redb::ReadableTable;

use super::{Effect, Group, Tables};
use crate::access::Policy;
use crate::error::Error;
use crate::ids::{AccountId, UserId};
use crate::limits::Holding;
use crate::model::Category;
use crate::store::records::{AccountRecord, TokenOwner, UserRecord, decode, encode};

impl Group<'_> {
    pub(super) fn create_account(
        &mut self,
        t: &mut Tables<'_>,
        id: AccountId,
        record: AccountRecord,
        root_hash: [u8; 32],
    ) -> Result<(), Error> {
        if self.account_name_taken(&record.name) {
            return Err(Error::Conflict(format!(
                "an account named '{}' already exists; choose another name",
                record.name
            )));
        }
        t.accounts
            .insert(id.0, encode("account", &record)?.as_slice())?;
        t.tokens.insert(
            root_hash.as_slice(),
            encode("token", &TokenOwner::Root(id.0))?.as_slice(),
        )?;
        t.sequences.insert(id.0, 0)?;
        self.effect(Effect::Account(id, record, root_hash));
        Ok(())
    }

    pub(super) fn create_user(
        &mut self,
        t: &mut Tables<'_>,
        id: UserId,
        record: UserRecord,
    ) -> Result<(), Error> {
        if self.user_name_taken(record.account, &record.name) {
            return Err(Error::Conflict(format!(
                "a user named '{}' already exists in this account; choose another name",
                record.name
            )));
        }
        self.room_for(AccountId(record.account), Holding::User)?;
        t.users.insert(id.0, encode("user", &record)?.as_slice())?;
        t.tokens.insert(
            record.token_hash.as_slice(),
            encode("token", &TokenOwner::User(id.0))?.as_slice(),
        )?;
        self.effect(Effect::User(id, record));
        Ok(())
    }

    pub(super) fn update_user(
        &mut self,
        t: &mut Tables<'_>,
        id: UserId,
        policies: Option<Vec<Policy>>,
        categories: Option<Option<Vec<Category>>>,
    ) -> Result<UserRecord, Error> {
        let users = &mut t.users;
        let mut record: UserRecord = match users.get(id.0)? {
            Some(bytes) => decode("user", bytes.value())?,
            None => return Err(Error::NotFound(format!("user {id} does not exist"))),
        };
        if let Some(policies) = policies {
            record.policies = policies;
        }
        if let Some(categories) = categories {
            record.categories = categories;
        }
        users.insert(id.0, encode("user", &record)?.as_slice())?;
        self.effect(Effect::User(id, record.clone()));
        Ok(record)
    }

    pub(super) fn delete_user(&mut self, t: &mut Tables<'_>, id: UserId) -> Result<(), Error> {
        let record: UserRecord = match t.users.remove(id.0)? {
            Some(bytes) => decode("user", bytes.value())?,
            None => return Err(Error::NotFound(format!("user {id} does not exist"))),
        };
        t.tokens.remove(record.token_hash.as_slice())?;
        let chunks = &mut t.read_chunks;
        chunks.retain_in(
            (record.account, id.0, 0)..=(record.account, id.0, u16::MAX),
            |_, _| false,
        )?;
        self.effect(Effect::UserGone(id, record.account, record.token_hash));
        Ok(())
    }
}
