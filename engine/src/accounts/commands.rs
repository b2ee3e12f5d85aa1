//! The accounts' changes, applied by the writer in a group's transaction: accounts and
//! users, with names unique per scope, tokens indexed, and the users an account may hold.
//! Each change to a user, its policies or the retention is recorded in the account's
//! history in the same transaction.

use crate::access::Policy;
use crate::error::Error;
use crate::history::{self, Entry};
use crate::ids::{AccountId, UserId};
use crate::limits::Holding;
use crate::model::Category;
use crate::store::records::{
    AccountRecord, ActionRecord, ActorRecord, SubjectRecord, TokenOwner, UserRecord,
};
use crate::store::writer::{Command, Effect, Tx};

/// Creates an account with its root token.
pub(crate) struct CreateAccount {
    pub(crate) id: AccountId,
    pub(crate) record: AccountRecord,
    pub(crate) root_hash: [u8; 32],
}

impl Command for CreateAccount {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let CreateAccount {
            id,
            record,
            root_hash,
        } = self;
        if tx.account_name_taken(&record.name) {
            return Err(Error::Conflict(format!(
                "an account named '{}' already exists; choose another name",
                record.name
            )));
        }
        tx.db.put_account(id, &record)?;
        tx.db.put_token(&root_hash, TokenOwner::Root(id.0))?;
        tx.db.put_next_seq(id, 0)?;
        tx.effect(Effect::Account(id, record, root_hash));
        Ok(())
    }
}

/// Creates a user in its account, within the account's limit.
pub(crate) struct CreateUser {
    pub(crate) id: UserId,
    pub(crate) record: UserRecord,
    /// Who creates it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for CreateUser {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let CreateUser { id, record, by } = self;
        if tx.user_name_taken(record.account, &record.name) {
            return Err(Error::Conflict(format!(
                "a user named '{}' already exists in this account; choose another name",
                record.name
            )));
        }
        tx.room_for(AccountId(record.account), Holding::User)?;
        tx.db.put_user(id, &record)?;
        tx.db
            .put_token(&record.token_hash, TokenOwner::User(id.0))?;
        let entry = Entry::new(
            by,
            SubjectRecord::User,
            ActionRecord::Created,
            id.to_string(),
        )
        .after(&super::user_of(id, &record));
        history::record(tx, AccountId(record.account), entry)?;
        tx.effect(Effect::User(id, record));
        Ok(())
    }
}

/// Changes a user's policies or category scope; answers the user as changed.
pub(crate) struct UpdateUser {
    pub(crate) id: UserId,
    pub(crate) policies: Option<Vec<Policy>>,
    pub(crate) categories: Option<Option<Vec<Category>>>,
    /// Who changes it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for UpdateUser {
    type Output = UserRecord;

    fn apply(self, tx: &mut Tx<'_>) -> Result<UserRecord, Error> {
        let UpdateUser {
            id,
            policies,
            categories,
            by,
        } = self;
        let Some(mut record) = tx.db.user(id)? else {
            return Err(Error::NotFound(format!("user {id} does not exist")));
        };
        let before = Grants::of(&record);
        if let Some(policies) = policies {
            record.policies = policies;
        }
        if let Some(categories) = categories {
            record.categories = categories;
        }
        tx.db.put_user(id, &record)?;
        let after = Grants::of(&record);
        if after != before {
            let entry = Entry::new(
                by,
                SubjectRecord::Policy,
                ActionRecord::Changed,
                id.to_string(),
            )
            .before(&before)
            .after(&after);
            history::record(tx, AccountId(record.account), entry)?;
        }
        tx.effect(Effect::User(id, record.clone()));
        Ok(record)
    }
}

/// Deletes a user with its token and read state.
pub(crate) struct DeleteUser {
    pub(crate) id: UserId,
    /// Who deletes it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for DeleteUser {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let DeleteUser { id, by } = self;
        let Some(record) = tx.db.remove_user(id)? else {
            return Err(Error::NotFound(format!("user {id} does not exist")));
        };
        tx.db.remove_token(&record.token_hash)?;
        tx.db
            .remove_read_set(AccountId(record.account), crate::access::Reader(id.0))?;
        let entry = Entry::new(
            by,
            SubjectRecord::User,
            ActionRecord::Deleted,
            id.to_string(),
        )
        .before(&super::user_of(id, &record));
        history::record(tx, AccountId(record.account), entry)?;
        tx.effect(Effect::UserGone(id, record.account, record.token_hash));
        Ok(())
    }
}

/// Sets how many days an account keeps its messages.
/// Sets the language of an account's deliveries (`None`: the server's).
pub(crate) struct SetAccountLocale {
    pub(crate) account: AccountId,
    pub(crate) locale: Option<String>,
}

impl Command for SetAccountLocale {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let SetAccountLocale { account, locale } = self;
        let Some(mut record) = tx.db.account(account)? else {
            return Err(crate::store::no_account(account));
        };
        record.locale = locale;
        tx.db.put_account(account, &record)?;
        tx.effect(Effect::AccountRecord(account, record));
        Ok(())
    }
}

pub(crate) struct SetRetention {
    pub(crate) account: AccountId,
    pub(crate) days: u32,
    /// Who sets it, for the history.
    pub(crate) by: ActorRecord,
}

impl Command for SetRetention {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let SetRetention { account, days, by } = self;
        let Some(mut record) = tx.db.account(account)? else {
            return Err(crate::store::no_account(account));
        };
        let before = Retention {
            retention_days: record.retention_days,
        };
        if before.retention_days == days {
            return Ok(());
        }
        record.retention_days = days;
        tx.db.put_account(account, &record)?;
        let entry = Entry::new(
            by,
            SubjectRecord::Retention,
            ActionRecord::Changed,
            account.to_string(),
        )
        .before(&before)
        .after(&Retention {
            retention_days: days,
        });
        history::record(tx, account, entry)?;
        tx.effect(Effect::AccountRecord(account, record));
        Ok(())
    }
}

/// What a policy change is recorded as: the user's policies and category scope. An update
/// that changes neither records nothing.
#[derive(serde::Serialize, PartialEq)]
struct Grants {
    policies: Vec<Policy>,
    categories: Option<Vec<Category>>,
}

impl Grants {
    fn of(record: &UserRecord) -> Grants {
        Grants {
            policies: record.policies.clone(),
            categories: record.categories.clone(),
        }
    }
}

/// What a retention change is recorded as.
#[derive(serde::Serialize)]
struct Retention {
    retention_days: u32,
}
