//! One-click unsubscribe (RFC 8058): each mail to a contact carries a token that names its
//! account, the contact and the category it was sent for, signed with a key only the
//! server holds (derived from the store's sealing key). Presenting the token takes that
//! contact out of that category's subscription, without a login: the signature is the
//! authority, so a token cannot be forged, nor altered to name another contact or category.
//!
//! Token: base64url (no padding) of version `1` (1 byte), account id and contact id (8
//! bytes each, big-endian), category index (1 byte), and the first 16 bytes of
//! HMAC-SHA256 over those 18 bytes.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::subscription_of;
use crate::engine::Engine;
use crate::error::Error;
use crate::ids::{AccountId, ContactId};
use crate::model::Category;
use crate::store::Subscribed;
use crate::store::writer::{Command, Effect, Tx};

const VERSION: u8 = 1;
const BODY: usize = 18;
const MAC: usize = 16;

/// What an unsubscribe token names, and where things stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscription {
    /// The account.
    pub account: AccountId,
    /// The account's name.
    pub account_name: String,
    /// The contact.
    pub contact: ContactId,
    /// The contact's address.
    pub email: String,
    /// The category whose subscription the token leaves.
    pub category: Category,
    /// Whether the category's subscription still names the contact.
    pub subscribed: bool,
}

/// What a token says, once its signature holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenClaim {
    pub(crate) account: AccountId,
    pub(crate) contact: u64,
    pub(crate) category: Category,
}

fn mac_of(key: &[u8; 32], body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(body);
    mac
}

/// The token for `contact` of `account` leaving `category`.
pub(crate) fn token(key: &[u8; 32], claim: TokenClaim) -> String {
    let mut bytes = Vec::with_capacity(BODY + MAC);
    bytes.push(VERSION);
    bytes.extend_from_slice(&claim.account.0.to_be_bytes());
    bytes.extend_from_slice(&claim.contact.to_be_bytes());
    bytes.push(claim.category.index() as u8);
    let tag = mac_of(key, &bytes).finalize().into_bytes();
    bytes.extend_from_slice(&tag[..MAC]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token the server did not issue names nothing, as a malformed id does: not found.
fn invalid_link() -> Error {
    Error::NotFound(
        "this unsubscribe link is not valid: it was cut or altered; open the link from the \
         mail as it is, or ask the account's administrators to change the subscription"
            .to_owned(),
    )
}

/// Reads and checks a token; any change to it (or another key) is refused.
pub(crate) fn verify(key: &[u8; 32], token: &str) -> Result<TokenClaim, Error> {
    if token.len() > 64 {
        return Err(invalid_link());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid_link())?;
    if bytes.len() != BODY + MAC || bytes[0] != VERSION {
        return Err(invalid_link());
    }
    let (body, tag) = bytes.split_at(BODY);
    mac_of(key, body)
        .verify_truncated_left(tag)
        .map_err(|_| invalid_link())?;
    let number = |range: std::ops::Range<usize>| {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&body[range]);
        u64::from_be_bytes(eight)
    };
    let category = Category::from_index(usize::from(body[17])).ok_or_else(invalid_link)?;
    Ok(TokenClaim {
        account: AccountId(number(1..9)),
        contact: number(9..17),
        category,
    })
}

impl Engine {
    /// The unsubscribe token of mail to `contact` of `account` sent for `category`.
    pub(crate) fn unsubscribe_token(
        &self,
        account: AccountId,
        contact: u64,
        category: Category,
    ) -> String {
        token(
            self.inner.secrets.unsubscribe_key(),
            TokenClaim {
                account,
                contact,
                category,
            },
        )
    }

    /// What an unsubscribe token names, changing nothing (the confirmation page: mail
    /// scanners follow links). A token that was not issued by this server, or was
    /// altered, names nothing, as one whose account or contact no longer exists: both are
    /// [`Error::NotFound`].
    pub fn unsubscription(&self, token: &str) -> Result<Unsubscription, Error> {
        let claim = verify(self.inner.secrets.unsubscribe_key(), token)?;
        let state = self.inner.store.state.read();
        let gone =
            || Error::NotFound("the contact this link was sent to no longer exists".to_owned());
        let account = state.accounts.get(&claim.account).ok_or_else(gone)?;
        let contact = state
            .contact(claim.account, claim.contact)
            .ok_or_else(gone)?;
        let subscribed = state
            .subscriptions
            .get(&(claim.account, claim.category))
            .is_some_and(|s| s.record.contacts.contains(&claim.contact));
        Ok(Unsubscription {
            account: claim.account,
            account_name: account.name.clone(),
            contact: ContactId(claim.contact),
            email: contact.email.clone(),
            category: claim.category,
            subscribed,
        })
    }

    /// Takes the contact a token names out of the subscription of its category, without a
    /// login (the token's signature is the authority); a second use changes nothing.
    /// Answers where things stand afterwards.
    pub async fn unsubscribe(&self, token: &str) -> Result<Unsubscription, Error> {
        let found = self.unsubscription(token)?;
        self.submit(Unsubscribe {
            account: found.account,
            category: found.category,
            contact: found.contact.0,
        })
        .await?;
        Ok(Unsubscription {
            subscribed: false,
            ..found
        })
    }
}

/// Takes a contact out of a category's subscription; answers whether it was in it.
pub(crate) struct Unsubscribe {
    pub(crate) account: AccountId,
    pub(crate) category: Category,
    pub(crate) contact: u64,
}

impl Command for Unsubscribe {
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, Error> {
        let Unsubscribe {
            account,
            category,
            contact,
        } = self;
        let Some(current) = tx.subscription(account, category) else {
            return Ok(false);
        };
        if !current.record.contacts.contains(&contact) {
            return Ok(false);
        }
        let before = current.record.clone();
        let mut record = before.clone();
        record.contacts.retain(|&c| c != contact);
        record.updated = tx.now();
        let subscribed = std::sync::Arc::new(Subscribed::new(record)?);
        tx.db
            .put_subscription(account, category, &subscribed.record)?;
        record_unsubscribe_in_history(tx, account, category, contact, &before, &subscribed)?;
        tx.effect(Effect::Subscription(account, category, Some(subscribed)));
        Ok(true)
    }
}

/// The one place where a one-click unsubscribe is written down: an entry of the account's
/// change history (by a link, the subscription before and after), in the transaction of
/// the change, and a log line.
fn record_unsubscribe_in_history(
    tx: &mut Tx<'_>,
    account: AccountId,
    category: Category,
    contact: u64,
    before: &crate::store::records::SubscriptionRecord,
    now: &Subscribed,
) -> Result<(), Error> {
    use crate::history::{self, Entry};
    use crate::store::records::{ActionRecord, ActorRecord, SubjectRecord};
    let view = subscription_of(category, &now.record);
    let entry = Entry::new(
        ActorRecord::Link,
        SubjectRecord::Unsubscribe,
        ActionRecord::Changed,
        category.as_str(),
    )
    .category(category)
    .before(&subscription_of(category, before))
    .after(&view);
    history::record(tx, account, entry)?;
    tracing::info!(
        %account,
        %category,
        contact = %ContactId(contact),
        contacts_left = view.contacts.len(),
        "a contact unsubscribed in one click"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn claim() -> TokenClaim {
        TokenClaim {
            account: AccountId(0x0102_0304_0506_0708),
            contact: 42,
            category: Category::Security,
        }
    }

    #[test]
    fn a_token_reads_back_what_it_names() {
        let t = token(&KEY, claim());
        assert_eq!(t.len(), 46);
        assert_eq!(verify(&KEY, &t).unwrap(), claim());
    }

    #[test]
    fn an_altered_or_foreign_token_is_refused() {
        let t = token(&KEY, claim());
        // Another key.
        assert!(verify(&[8; 32], &t).is_err());
        // Every single changed character.
        for i in 0..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != t {
                assert!(verify(&KEY, &altered).is_err(), "position {i}");
            }
        }
        // The same signature over another contact or category.
        let other = token(
            &KEY,
            TokenClaim {
                contact: 43,
                ..claim()
            },
        );
        let spliced = format!("{}{}", &other[..24], &t[24..]);
        assert!(verify(&KEY, &spliced).is_err());
        for junk in ["", "x", &"A".repeat(46), &"A".repeat(500), "not base64!"] {
            assert!(verify(&KEY, junk).is_err(), "{junk}");
        }
    }
}
