//! What one account may hold, so that no tenant can starve the others of the store's memory
//! or the writer's time: at most so many users, channels and contacts.
//!
//! The writer enforces the limits, counting what an account holds as of the last commit
//! plus what the earlier jobs of its commit group created or deleted; so two creates that
//! share a commit cannot both take the last place, and a delete makes room at once. A limit
//! lowered below what an account holds keeps everything it holds and refuses new ones until
//! enough are deleted.
//!
//! Subscriptions need no limit of their own: an account has at most one per category (six),
//! and each names at most 100 channels and 100 contacts.

/// How many users an account may have by default.
pub const DEFAULT_MAX_USERS_PER_ACCOUNT: usize = 10_000;
/// How many channels an account may have by default.
pub const DEFAULT_MAX_CHANNELS_PER_ACCOUNT: usize = 1_000;
/// How many email contacts an account may have by default.
pub const DEFAULT_MAX_CONTACTS_PER_ACCOUNT: usize = 10_000;

/// The most users, channels and contacts one account may have. A create beyond a limit
/// fails with [`Error::LimitReached`](crate::Error::LimitReached) and changes nothing.
///
/// The defaults are far above what a large tenant uses; they bound what a runaway script
/// or a hostile tenant can make the server keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// The most users an account may have (default [`DEFAULT_MAX_USERS_PER_ACCOUNT`]).
    pub users: usize,
    /// The most channels an account may have (default
    /// [`DEFAULT_MAX_CHANNELS_PER_ACCOUNT`]).
    pub channels: usize,
    /// The most email contacts an account may have (default
    /// [`DEFAULT_MAX_CONTACTS_PER_ACCOUNT`]).
    pub contacts: usize,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            users: DEFAULT_MAX_USERS_PER_ACCOUNT,
            channels: DEFAULT_MAX_CHANNELS_PER_ACCOUNT,
            contacts: DEFAULT_MAX_CONTACTS_PER_ACCOUNT,
        }
    }
}

impl AccountLimits {
    /// The limit on one kind of holding.
    pub(crate) fn of(&self, kind: Holding) -> usize {
        match kind {
            Holding::User => self.users,
            Holding::Channel => self.channels,
            Holding::Contact => self.contacts,
        }
    }
}

/// A kind of thing an account holds under a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Holding {
    User,
    Channel,
    Contact,
}

impl Holding {
    /// `n` of this kind in words: "1 channel", "12 channels".
    fn counted(self, n: usize) -> String {
        let noun = match self {
            Holding::User => "user",
            Holding::Channel => "channel",
            Holding::Contact => "contact",
        };
        if n == 1 {
            format!("1 {noun}")
        } else {
            format!("{n} {noun}s")
        }
    }
}

/// The refusal of a create in an account (`who`, e.g. "account 'acme'") that holds `held`
/// of `kind` under a `limit`: it says what to delete, or whom to ask.
pub(crate) fn limit_reached(who: &str, kind: Holding, held: usize, limit: usize) -> crate::Error {
    let message = if held <= limit {
        format!(
            "{who} already has {}, the most this server allows per account; delete one to \
             make room, or ask the operator to raise the limit",
            kind.counted(held)
        )
    } else {
        format!(
            "{who} has {} and this server now allows at most {limit} per account; delete {} \
             to make room for another, or ask the operator to raise the limit",
            kind.counted(held),
            held - limit + 1
        )
    };
    crate::Error::LimitReached(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_at_the_limit_names_the_count_and_what_to_do() {
        let text = limit_reached("account 'acme'", Holding::Channel, 1000, 1000).to_string();
        assert_eq!(
            text,
            "account 'acme' already has 1000 channels, the most this server allows per \
             account; delete one to make room, or ask the operator to raise the limit"
        );
    }

    #[test]
    fn a_refusal_over_a_lowered_limit_says_how_many_to_delete() {
        let text = limit_reached("account 'acme'", Holding::User, 12, 10).to_string();
        assert!(text.contains("has 12 users"), "{text}");
        assert!(text.contains("at most 10 per account"), "{text}");
        assert!(text.contains("delete 3 to make room"), "{text}");
    }

    #[test]
    fn a_limit_of_one_reads_in_the_singular() {
        let text = limit_reached("account 'acme'", Holding::Contact, 1, 1).to_string();
        assert!(text.contains("already has 1 contact,"), "{text}");
    }
}
