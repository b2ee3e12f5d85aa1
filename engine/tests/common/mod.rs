//! Shared setup for the engine's integration tests.
#![allow(dead_code)]

pub mod host;

use std::sync::Arc;

use msghub::{
    AccountId, Category, Engine, ManualClock, Message, NewMessage, NewUser, Page, PageRequest,
    Policy, Principal, Severity,
};
use time::macros::datetime;

pub const OPERATOR_TOKEN: &str = "operator-secret-for-tests";

pub struct Hub {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub account: AccountId,
    pub root: Principal,
    pub root_token: String,
}

pub async fn hub() -> Hub {
    hub_with(Engine::builder().in_memory()).await
}

/// A hub whose channels go through `host`, without background workers (deliveries are made
/// by `Engine::deliver_due`).
pub async fn hub_with_host(host: Arc<host::ChatHost>) -> Hub {
    hub_with(
        Engine::builder()
            .in_memory()
            .background(false)
            .channel_host(host),
    )
    .await
}

async fn hub_with(builder: msghub::EngineBuilder) -> Hub {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-28 12:00 UTC)));
    let engine = builder
        .operator_token(OPERATOR_TOKEN)
        .clock(clock.clone())
        .build()
        .await
        .expect("engine opens");
    let created = engine
        .create_account(&Principal::Operator, "acme")
        .await
        .expect("account");
    let root = engine
        .authenticate(&created.root_token)
        .expect("root token");
    Hub {
        engine,
        clock,
        account: created.account.id,
        root,
        root_token: created.root_token,
    }
}

impl Hub {
    pub async fn publish(&self, message: NewMessage) -> Message {
        self.engine
            .publish(&Principal::Operator, self.account, message)
            .await
            .expect("publish")
            .message
    }

    pub async fn publish_n(
        &self,
        category: Category,
        severity: Severity,
        n: usize,
    ) -> Vec<Message> {
        let mut out = Vec::new();
        for i in 0..n {
            out.push(
                self.publish(
                    NewMessage::new(category, format!("{category} {severity} #{i}"))
                        .severity(severity)
                        .body(format!("body of {category} number {i}")),
                )
                .await,
            );
        }
        out
    }

    pub async fn user(
        &self,
        name: &str,
        policies: &[Policy],
        scope: Option<&[Category]>,
    ) -> Principal {
        let created = self
            .engine
            .create_user(
                &self.root,
                self.account,
                NewUser {
                    name: name.into(),
                    policies: policies.to_vec(),
                    categories: scope.map(<[Category]>::to_vec),
                },
            )
            .await
            .expect("user");
        self.engine
            .authenticate(&created.token)
            .expect("user token")
    }

    /// Every message under `filter` for `who`, following cursors with small pages.
    pub async fn all(&self, who: &Principal, filter: &msghub::Filter) -> Vec<Message> {
        let mut out = Vec::new();
        let mut page: Page<Message> = self
            .engine
            .list_messages(who, self.account, filter, &PageRequest::first(7))
            .await
            .expect("list");
        loop {
            out.extend(page.items);
            let Some(cursor) = page.next_cursor else {
                break;
            };
            page = self
                .engine
                .list_messages(who, self.account, filter, &PageRequest::after(7, cursor))
                .await
                .expect("next page");
        }
        out
    }
}

pub fn titles(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.title.clone()).collect()
}
