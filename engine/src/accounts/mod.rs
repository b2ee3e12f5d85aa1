//! Accounts (tenants) and their users: creation, policies, category scopes and tokens.
//!
//! Tokens are returned once, at creation; the store keeps only their hashes.

pub(crate) mod commands;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::access::{Action, Policy, Principal, TokenHash, new_token, require};
use crate::clock::from_micros;
use crate::clock::micros;
use crate::engine::Engine;
use crate::error::Error;
use crate::filter::{Page, PageRequest, decode_cursor, encode_cursor};
use crate::ids::{AccountId, UserId};
use crate::model::Category;
use crate::store::records::{AccountRecord, ActorRecord, UserRecord};
use crate::store::{self};

use self::commands::{CreateAccount, CreateUser, DeleteUser, UpdateUser};

/// Days a message is kept when the account says nothing else.
pub const DEFAULT_RETENTION_DAYS: u32 = 180;
/// Most characters in an account or user name.
pub const MAX_NAME_CHARS: usize = 128;

/// An account: one tenant with its own inbox, users, channels and subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's id.
    pub id: AccountId,
    /// Its unique name.
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Days messages are kept before they are purged.
    pub retention_days: u32,
    /// The language of the words msghub adds to deliveries whose channel or contact names
    /// none; `None`: the server's.
    pub locale: Option<String>,
}

/// A newly created account with its root token, which is shown only this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedAccount {
    /// The account.
    #[serde(flatten)]
    pub account: Account,
    /// The token of the account's root principal.
    pub root_token: String,
}

/// A user of an account (never with its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The account it belongs to.
    pub account_id: AccountId,
    /// Its name, unique in the account.
    pub name: String,
    /// The policies it holds.
    pub policies: Vec<Policy>,
    /// The categories it is limited to; `None` means all.
    pub categories: Option<Vec<Category>>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A newly created user with its token, which is shown only this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUser {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// The user's bearer token.
    pub token: String,
}

/// What a new user is given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Its name, unique in the account.
    pub name: String,
    /// Its policies; none means it can do nothing until granted one.
    pub policies: Vec<Policy>,
    /// Limit it to these categories; `None` means all.
    pub categories: Option<Vec<Category>>,
}

/// A change to a user; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New policies.
    pub policies: Option<Vec<Policy>>,
    /// New scope: `Some(None)` removes the limit, `Some(Some(list))` sets it.
    pub categories: Option<Option<Vec<Category>>>,
}

pub(crate) fn validate_name(field: &str, name: &str) -> Result<(), Error> {
    if name.trim().is_empty() {
        return Err(Error::invalid(
            field,
            format!("{field} is required and must not be blank"),
        ));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(Error::invalid(
            field,
            format!("{field} has {chars} characters; at most {MAX_NAME_CHARS} are allowed"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

fn normalize_scope(categories: Option<Vec<Category>>) -> Result<Option<Vec<Category>>, Error> {
    match categories {
        Some(list) if list.is_empty() => Err(Error::invalid(
            "categories",
            "categories must name at least one category, or be left out (or null) for all",
        )),
        Some(mut list) => {
            list.sort();
            list.dedup();
            Ok(Some(list))
        }
        None => Ok(None),
    }
}

fn normalize_policies(mut policies: Vec<Policy>) -> Vec<Policy> {
    policies.sort();
    policies.dedup();
    policies
}

fn user_of(id: UserId, record: &UserRecord) -> User {
    User {
        id,
        account_id: AccountId(record.account),
        name: record.name.clone(),
        policies: record.policies.clone(),
        categories: record.categories.clone(),
        created_at: from_micros(record.created),
    }
}

impl Engine {
    /// Creates an account (operator only) and returns it with its root token.
    pub async fn create_account(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<CreatedAccount, Error> {
        require(principal, Action::CreateAccount, None)?;
        validate_name("name", name)?;
        let id = AccountId(crate::ids::fresh_id());
        let root_token = new_token("mhr_");
        let record = AccountRecord {
            name: name.to_owned(),
            created: micros(self.now()),
            retention_days: DEFAULT_RETENTION_DAYS,
            locale: None,
        };
        let account = Account {
            id,
            name: record.name.clone(),
            created_at: from_micros(record.created),
            retention_days: record.retention_days,
            locale: None,
        };
        let root_hash = TokenHash::of(&root_token).0;
        self.submit(CreateAccount {
            id,
            record,
            root_hash,
        })
        .await?;
        Ok(CreatedAccount {
            account,
            root_token,
        })
    }

    /// An account, for any principal of it (or the operator).
    pub fn account(&self, principal: &Principal, account: AccountId) -> Result<Account, Error> {
        require(principal, Action::ReadAccount, Some(account))?;
        let state = self.inner.store.state.read();
        let record = state
            .accounts
            .get(&account)
            .ok_or_else(|| store::no_account(account))?;
        Ok(Account {
            id: account,
            name: record.name.clone(),
            created_at: from_micros(record.created),
            retention_days: record.retention_days,
            locale: record.locale.clone(),
        })
    }

    /// Every account, oldest first: for the operator.
    pub fn accounts(&self, principal: &Principal) -> Result<Vec<Account>, Error> {
        require(principal, Action::CreateAccount, None)?;
        let state = self.inner.store.state.read();
        let mut accounts: Vec<Account> = state
            .accounts
            .iter()
            .map(|(&id, r)| Account {
                id,
                name: r.name.clone(),
                created_at: from_micros(r.created),
                retention_days: r.retention_days,
                locale: r.locale.clone(),
            })
            .collect();
        accounts.sort_by_key(|a| (a.created_at, a.id));
        Ok(accounts)
    }

    /// Creates a user in `account` (operator or root) and returns it with its token.
    pub async fn create_user(
        &self,
        principal: &Principal,
        account: AccountId,
        new: NewUser,
    ) -> Result<CreatedUser, Error> {
        require(principal, Action::ManageUsers, Some(account))?;
        self.account(principal, account)?;
        validate_name("name", &new.name)?;
        let token = new_token("mhu_");
        let id = UserId(crate::ids::fresh_id());
        let record = UserRecord {
            account: account.0,
            name: new.name,
            policies: normalize_policies(new.policies),
            categories: normalize_scope(new.categories)?,
            created: micros(self.now()),
            token_hash: TokenHash::of(&token).0,
        };
        let user = user_of(id, &record);
        self.submit(CreateUser {
            id,
            record,
            by: ActorRecord::of(principal),
        })
        .await?;
        Ok(CreatedUser { user, token })
    }

    /// A page of `account`'s users, in id order (operator or root).
    pub fn list_users(
        &self,
        principal: &Principal,
        account: AccountId,
        page: &PageRequest,
    ) -> Result<Page<User>, Error> {
        require(principal, Action::ManageUsers, Some(account))?;
        self.account(principal, account)?;
        page.validate()?;
        let scope = account.0.to_be_bytes();
        let after = match &page.cursor {
            Some(c) => Some(decode_cursor(c, &scope, None)?),
            None => None,
        };
        let state = self.inner.store.state.read();
        let mut users: Vec<(UserId, &UserRecord)> = state
            .users_of(account)
            .filter(|(id, _)| after.is_none_or(|a| id.0 > a))
            .take(page.limit.saturating_add(1))
            .collect();
        let more = users.len() > page.limit;
        users.truncate(page.limit);
        let next_cursor = more
            .then(|| {
                users
                    .last()
                    .map(|(id, _)| encode_cursor(id.0, &scope, None))
            })
            .flatten();
        Ok(Page {
            items: users.iter().map(|(id, r)| user_of(*id, r)).collect(),
            next_cursor,
        })
    }

    /// One user of `account` (operator or root).
    pub fn user(
        &self,
        principal: &Principal,
        account: AccountId,
        user: UserId,
    ) -> Result<User, Error> {
        require(principal, Action::ManageUsers, Some(account))?;
        let state = self.inner.store.state.read();
        state
            .user(user)
            .filter(|r| r.account == account.0)
            .map(|r| user_of(user, r))
            .ok_or_else(|| {
                Error::NotFound(format!("user {user} does not exist in account {account}"))
            })
    }

    /// Changes a user's policies or scope; takes effect on its next request.
    pub async fn update_user(
        &self,
        principal: &Principal,
        account: AccountId,
        user: UserId,
        update: UserUpdate,
    ) -> Result<User, Error> {
        self.user(principal, account, user)?;
        let categories = match update.categories {
            Some(scope) => Some(normalize_scope(scope)?),
            None => None,
        };
        let policies = update.policies.map(normalize_policies);
        let record = self
            .submit(UpdateUser {
                id: user,
                policies,
                categories,
                by: ActorRecord::of(principal),
            })
            .await?;
        Ok(user_of(user, &record))
    }

    /// Deletes a user; its token stops working at once.
    pub async fn delete_user(
        &self,
        principal: &Principal,
        account: AccountId,
        user: UserId,
    ) -> Result<(), Error> {
        self.user(principal, account, user)?;
        self.submit(DeleteUser {
            id: user,
            by: ActorRecord::of(principal),
        })
        .await
    }
}
