//! Opaque identifiers: accounts, users and messages, written as short prefixed strings
//! (`acc_…`, `usr_…`, `msg_…`) in lowercase Crockford base32.
//!
//! A message id carries its account, so an id is unique across accounts and an id from
//! another account is recognised as "not here" without a lookup.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn encode(value: u64, digits: usize, out: &mut String) {
    for i in (0..digits).rev() {
        let shift = i * 5;
        let index = if shift >= 64 {
            0
        } else {
            (value >> shift) & 31
        };
        out.push(char::from(ALPHABET[index as usize]));
    }
}

fn decode(text: &str, max_bits: u32) -> Option<u64> {
    let mut value: u128 = 0;
    for byte in text.bytes() {
        let digit = ALPHABET.iter().position(|&a| a == byte)?;
        value = (value << 5) | digit as u128;
    }
    if value >> max_bits != 0 {
        return None;
    }
    u64::try_from(value).ok()
}

macro_rules! string_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut s = String::with_capacity(24);
                s.push_str($prefix);
                self.encode_body(&mut s);
                f.write_str(&s)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.strip_prefix($prefix)
                    .and_then($name::decode_body)
                    .ok_or_else(|| InvalidId {
                        what: $what,
                        text: s.chars().take(64).collect(),
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A fresh random id for an account, a user, a channel or a contact. Ids are random, not
/// counted, so that one never tells how many others exist. 0 and 1 are never handed out:
/// the operator's and an account root's read state are kept under them.
pub(crate) fn fresh_id() -> u64 {
    loop {
        let id = rand::random::<u64>();
        if id > 1 {
            return id;
        }
    }
}

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a valid {what} id")]
pub struct InvalidId {
    /// Which kind of id was expected.
    pub what: &'static str,
    /// The text that was given (at most 64 characters of it).
    pub text: String,
}

/// Identifies an account (a tenant); never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub(crate) u64);

impl AccountId {
    fn encode_body(&self, out: &mut String) {
        encode(self.0, 13, out);
    }

    fn decode_body(body: &str) -> Option<AccountId> {
        (body.len() == 13)
            .then(|| decode(body, 64))
            .flatten()
            .filter(|&v| v != 0)
            .map(AccountId)
    }
}

string_id!(AccountId, "acc_", "account");

/// Identifies a user of an account; never 0 or 1, which stand for the operator and the
/// account root in read state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub(crate) u64);

impl UserId {
    fn encode_body(&self, out: &mut String) {
        encode(self.0, 13, out);
    }

    fn decode_body(body: &str) -> Option<UserId> {
        (body.len() == 13)
            .then(|| decode(body, 64))
            .flatten()
            .filter(|&v| v > 1)
            .map(UserId)
    }
}

string_id!(UserId, "usr_", "user");

macro_rules! simple_id {
    ($name:ident, $prefix:literal, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u64);

        impl $name {
            fn encode_body(&self, out: &mut String) {
                encode(self.0, 13, out);
            }

            fn decode_body(body: &str) -> Option<$name> {
                (body.len() == 13)
                    .then(|| decode(body, 64))
                    .flatten()
                    .filter(|&v| v != 0)
                    .map($name)
            }
        }

        string_id!($name, $prefix, $what);
    };
}

simple_id!(
    ChannelId,
    "chn_",
    "channel",
    "Identifies a channel (a plugin and its configuration) of an account."
);
simple_id!(
    ContactId,
    "cnt_",
    "contact",
    "Identifies an email contact of an account."
);
simple_id!(
    DeliveryId,
    "dlv_",
    "delivery",
    "Identifies one delivery job; its text is the idempotency key of every attempt."
);

simple_id!(
    RuleId,
    "mnd_",
    "mandatory rule",
    "Identifies a mandatory rule of the operator."
);
simple_id!(
    ChangeId,
    "chg_",
    "history entry",
    "Identifies one entry of a change history; entries are numbered in the order they were made."
);

/// Identifies a message: its account and its sequence number inside that account.
/// Sequence numbers grow with every publish and are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    pub(crate) account: AccountId,
    pub(crate) seq: u32,
}

impl MessageId {
    /// The sequence number no stored message ever gets: it marks the sample message of a
    /// channel test, so a receiver never takes the test for (or dedupes it with) a real
    /// message.
    const CHANNEL_TEST_SEQ: u32 = u32::MAX;

    /// The id of the sample message `POST .../channels/{id}/test` sends for `account`. It
    /// carries the account like every message id, but its text is refused as a message id
    /// (`"...".parse::<MessageId>()` fails), so it never names a stored message.
    pub fn channel_test(account: AccountId) -> MessageId {
        MessageId {
            account,
            seq: MessageId::CHANNEL_TEST_SEQ,
        }
    }

    /// Whether this is the id of a channel test's sample message.
    pub fn is_channel_test(&self) -> bool {
        self.seq == MessageId::CHANNEL_TEST_SEQ
    }

    /// Whether a stored message may have sequence number `seq`.
    pub(crate) fn is_real_seq(seq: u32) -> bool {
        seq != MessageId::CHANNEL_TEST_SEQ
    }

    /// The account whose inbox holds the message.
    pub fn account(&self) -> AccountId {
        self.account
    }

    fn encode_body(&self, out: &mut String) {
        encode(self.account.0, 13, out);
        encode(u64::from(self.seq), 7, out);
    }

    fn decode_body(body: &str) -> Option<MessageId> {
        if body.len() != 20 || !body.is_ascii() {
            return None;
        }
        let account = AccountId::decode_body(&body[..13])?;
        let seq = u32::try_from(decode(&body[13..], 32)?)
            .ok()
            .filter(|&seq| MessageId::is_real_seq(seq))?;
        Some(MessageId { account, seq })
    }
}

string_id!(MessageId, "msg_", "message");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        for raw in [2, 1234, u64::MAX] {
            let id = AccountId(raw);
            assert_eq!(id.to_string().parse::<AccountId>(), Ok(id));
            let user = UserId(raw);
            assert_eq!(user.to_string().parse::<UserId>(), Ok(user));
        }
        let msg = MessageId {
            account: AccountId(u64::MAX),
            seq: u32::MAX - 1,
        };
        assert_eq!(msg.to_string().len(), 24);
        assert_eq!(msg.to_string().parse::<MessageId>(), Ok(msg));
    }

    #[test]
    fn a_channel_test_message_id_is_never_taken_for_a_real_message() {
        let account = AccountId(42);
        let test = MessageId::channel_test(account);
        assert!(test.is_channel_test());
        assert_eq!(test.account(), account);
        let text = test.to_string();
        assert!(text.starts_with("msg_"), "{text}");
        assert!(
            text.parse::<MessageId>().is_err(),
            "{text} parsed as a message id"
        );
        let first = MessageId { account, seq: 0 };
        assert_ne!(test, first);
        assert!(!first.is_channel_test());
        assert_eq!(first.to_string().parse::<MessageId>(), Ok(first));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for text in [
            "",
            "acc_",
            "acc_zzzzzzzzzzzzzz",
            "usr_0000000000001",
            "acc_ü",
            "msg_x",
        ] {
            assert!(text.parse::<AccountId>().is_err(), "{text}");
            assert!(text.parse::<MessageId>().is_err(), "{text}");
        }
        assert!("acc_0000000000000".parse::<AccountId>().is_err());
        let err = "nope".parse::<AccountId>().unwrap_err();
        assert_eq!(err.to_string(), "'nope' is not a valid account id");
    }
}
