//! Principals, policies, tokens, and the one authorization function every operation uses.
//!
//! `authorize(principal, action, account, category)` is the only place that decides who may
//! do what; operations never check permissions their own way. Tokens are random, shown once,
//! and kept only as SHA-256 hashes.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::filter::CategorySet;
use crate::ids::{AccountId, UserId};
use crate::model::Category;

/// A policy a user can hold (the contract's managed policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Policy {
    /// View messages, counts, deliveries, channels, contacts and subscriptions; mark read.
    NotificationsReadOnlyAccess,
    /// All of read-only, plus delete messages and manage channels, contacts, subscriptions.
    NotificationsFullAccess,
}

impl Policy {
    /// The policy's name as it appears in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::NotificationsReadOnlyAccess => "NotificationsReadOnlyAccess",
            Policy::NotificationsFullAccess => "NotificationsFullAccess",
        }
    }

    /// Parses a policy name, with an error that names `field` and lists the valid names.
    pub fn parse_field(value: &str, field: &str) -> Result<Policy, Error> {
        value.parse().map_err(|_| {
            Error::invalid(
                field,
                format!(
                    "policy '{value}' is not one of NotificationsReadOnlyAccess, NotificationsFullAccess"
                ),
            )
        })
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "NotificationsReadOnlyAccess" => Ok(Policy::NotificationsReadOnlyAccess),
            "NotificationsFullAccess" => Ok(Policy::NotificationsFullAccess),
            _ => Err(()),
        }
    }
}

/// Who is making a request, as established from their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator of the hub: may do everything.
    Operator,
    /// An account's root: everything inside its account except publishing.
    Root(AccountId),
    /// A user of an account, with the policies and category scope it holds now.
    User(UserGrant),
}

/// What a user principal holds at the moment its token was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    /// The user's account.
    pub account: AccountId,
    /// The user.
    pub user: UserId,
    /// The policies it holds.
    pub policies: Vec<Policy>,
    /// The categories it is limited to; `None` means all.
    pub categories: Option<CategorySet>,
}

/// Whose read state a principal reads and writes: 0 for the operator, 1 for an account's
/// root, the user id for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Reader(pub(crate) u64);

impl Principal {
    pub(crate) fn reader(&self) -> Reader {
        match self {
            Principal::Operator => Reader(0),
            Principal::Root(_) => Reader(1),
            Principal::User(grant) => Reader(grant.user.0),
        }
    }
}

/// Something a principal may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create accounts.
    CreateAccount,
    /// Publish a message into an account.
    Publish,
    /// Read an account's details.
    ReadAccount,
    /// Create, list, change and delete users.
    ManageUsers,
    /// List, read and count messages (and their deliveries).
    ReadMessages,
    /// Mark messages read for oneself.
    MarkRead,
    /// Delete messages for the whole account.
    DeleteMessages,
    /// View channels, contacts and subscriptions.
    ReadConfig,
    /// Create, change and delete channels, contacts and subscriptions.
    ManageConfig,
    /// Read the account's change history (a user scoped to some categories sees only the
    /// entries of those categories).
    ReadHistory,
    /// Create and delete the operator's mandatory rules, and see which accounts they reach.
    ManageMandatoryRules,
}

/// Why [`authorize`] said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The principal may not do this at all: a 403.
    Forbidden(String),
    /// The principal may act on messages, but not of this category: to it the thing does
    /// not exist (a 404 for a single message, skipped in lists and bulk calls).
    OutOfScope,
}

/// Decides whether `principal` may do `action` in `account`, optionally on something of
/// `category`. This is the single authorization rule of the engine.
pub fn authorize(
    principal: &Principal,
    action: Action,
    account: Option<AccountId>,
    category: Option<Category>,
) -> Result<(), Denied> {
    match principal {
        Principal::Operator => Ok(()),
        Principal::Root(own) => {
            if account != Some(*own) {
                return Err(other_account());
            }
            match action {
                Action::CreateAccount => Err(Denied::Forbidden(
                    "only the operator may create accounts".into(),
                )),
                Action::ManageMandatoryRules => Err(Denied::Forbidden(
                    "only the operator may manage mandatory rules".into(),
                )),
                Action::Publish => Err(Denied::Forbidden(
                    "only the operator may publish: an inbox holds only what the platform sent"
                        .into(),
                )),
                _ => Ok(()),
            }
        }
        Principal::User(grant) => {
            if account != Some(grant.account) {
                return Err(other_account());
            }
            let needs_full = match action {
                Action::ReadAccount
                | Action::ReadMessages
                | Action::MarkRead
                | Action::ReadConfig => false,
                Action::DeleteMessages | Action::ManageConfig | Action::ReadHistory => true,
                Action::CreateAccount
                | Action::Publish
                | Action::ManageUsers
                | Action::ManageMandatoryRules => {
                    return Err(Denied::Forbidden(format!(
                        "users may not {}; ask the operator or the account root",
                        action_words(action)
                    )));
                }
            };
            let full = grant.policies.contains(&Policy::NotificationsFullAccess);
            let read = full
                || grant
                    .policies
                    .contains(&Policy::NotificationsReadOnlyAccess);
            if !read {
                return Err(Denied::Forbidden(
                    "this user holds no policy; the account root can grant NotificationsReadOnlyAccess or NotificationsFullAccess".into(),
                ));
            }
            if needs_full && !full {
                return Err(Denied::Forbidden(format!(
                    "{} needs NotificationsFullAccess; this user holds NotificationsReadOnlyAccess",
                    action_words(action)
                )));
            }
            match (category, grant.categories) {
                (Some(category), Some(scope)) if !scope.contains(category) => {
                    Err(Denied::OutOfScope)
                }
                _ => Ok(()),
            }
        }
    }
}

fn other_account() -> Denied {
    Denied::Forbidden("this token belongs to another account".into())
}

fn action_words(action: Action) -> &'static str {
    match action {
        Action::CreateAccount => "create accounts",
        Action::Publish => "publish messages",
        Action::ReadAccount => "read the account",
        Action::ManageUsers => "manage users",
        Action::ReadMessages => "read messages",
        Action::MarkRead => "mark messages read",
        Action::DeleteMessages => "deleting messages",
        Action::ReadConfig => "view channels, contacts and subscriptions",
        Action::ManageConfig => "managing channels, contacts and subscriptions",
        Action::ReadHistory => "reading the change history",
        Action::ManageMandatoryRules => "manage mandatory rules",
    }
}

/// Checks an action that does not concern one message, turning a denial into an error.
pub(crate) fn require(
    principal: &Principal,
    action: Action,
    account: Option<AccountId>,
) -> Result<(), Error> {
    authorize(principal, action, account, None).map_err(|denied| match denied {
        Denied::Forbidden(reason) => Error::Forbidden(reason),
        Denied::OutOfScope => Error::Forbidden("outside this user's categories".into()),
    })
}

/// The categories in which `principal` may do `action` in `account`.
pub(crate) fn visible_categories(
    principal: &Principal,
    action: Action,
    account: AccountId,
) -> Result<CategorySet, Error> {
    require(principal, action, Some(account))?;
    Ok(Category::ALL
        .into_iter()
        .filter(|&c| authorize(principal, action, Some(account), Some(c)).is_ok())
        .collect())
}

/// The SHA-256 of a token: what the store keeps instead of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct TokenHash(pub(crate) [u8; 32]);

impl TokenHash {
    pub(crate) fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Compares in constant time, so a timing difference cannot reveal a matching prefix.
    pub(crate) fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Makes a new random token with a prefix telling what it is for (`mhr_` account roots,
/// `mhu_` users, `mho_` operators): 256 bits from the operating system's generator.
pub(crate) fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Makes a new operator token, for a server that must generate one on first start.
pub fn generate_operator_token() -> String {
    new_token("mho_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(policies: &[Policy], scope: Option<&[Category]>) -> Principal {
        Principal::User(UserGrant {
            account: AccountId(7),
            user: UserId(9),
            policies: policies.to_vec(),
            categories: scope.map(|s| s.iter().copied().collect()),
        })
    }

    #[test]
    fn root_may_not_publish_or_leave_its_account() {
        let root = Principal::Root(AccountId(7));
        assert!(authorize(&root, Action::DeleteMessages, Some(AccountId(7)), None).is_ok());
        assert!(authorize(&root, Action::Publish, Some(AccountId(7)), None).is_err());
        assert!(authorize(&root, Action::ReadMessages, Some(AccountId(8)), None).is_err());
    }

    #[test]
    fn users_need_a_policy_and_full_access_to_delete() {
        let none = user(&[], None);
        assert!(authorize(&none, Action::ReadMessages, Some(AccountId(7)), None).is_err());
        let ro = user(&[Policy::NotificationsReadOnlyAccess], None);
        assert!(authorize(&ro, Action::MarkRead, Some(AccountId(7)), None).is_ok());
        assert!(matches!(
            authorize(&ro, Action::DeleteMessages, Some(AccountId(7)), None),
            Err(Denied::Forbidden(_))
        ));
        let full = user(&[Policy::NotificationsFullAccess], None);
        assert!(authorize(&full, Action::DeleteMessages, Some(AccountId(7)), None).is_ok());
        assert!(authorize(&full, Action::ManageUsers, Some(AccountId(7)), None).is_err());
    }

    #[test]
    fn scoped_users_see_only_their_categories() {
        let scoped = user(
            &[Policy::NotificationsFullAccess],
            Some(&[Category::Account, Category::Service]),
        );
        let visible = visible_categories(&scoped, Action::DeleteMessages, AccountId(7)).unwrap();
        assert_eq!(
            visible.iter().collect::<Vec<_>>(),
            vec![Category::Account, Category::Service]
        );
        assert_eq!(
            authorize(
                &scoped,
                Action::ReadMessages,
                Some(AccountId(7)),
                Some(Category::Security)
            ),
            Err(Denied::OutOfScope)
        );
    }

    #[test]
    fn tokens_are_random_and_hashes_compare() {
        let a = new_token("mhu_");
        let b = new_token("mhu_");
        assert_ne!(a, b);
        assert!(a.starts_with("mhu_") && a.len() == 47);
        assert!(TokenHash::of(&a).matches(&TokenHash::of(&a)));
        assert!(!TokenHash::of(&a).matches(&TokenHash::of(&b)));
    }
}
