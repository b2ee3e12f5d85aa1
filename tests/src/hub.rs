//! A delivery test's world: an engine with the bundled plugins on a [`ManualClock`], an
//! account, and helpers to make webhook channels, subscribe, publish and wait for outcomes.

use std::sync::Arc;
use std::time::Duration;

use msghub::{
    Category, ChannelId, DeliveryStatus, Engine, ManualClock, NewChannel, NewMessage, Principal,
    RetrySchedule, SubscriptionSpec,
};
use serde_json::json;

use crate::channels::bundled;
use crate::{Recorded, TestServer, test_config};

const OPERATOR: Principal = Principal::Operator;
/// The signing secret of the helpers' webhook channels.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The instant every delivery test starts at.
pub fn start() -> time::OffsetDateTime {
    msghub::parse_time("2026-11-28T08:00:00Z", "start").unwrap()
}

/// An engine with the bundled plugins on a manual clock, and one account in it.
pub struct Hub {
    /// The engine.
    pub engine: Engine,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// The account the helpers act in.
    pub account: msghub::AccountId,
}

/// A fresh in-memory [`Hub`] retrying on `schedule`.
pub async fn hub(schedule: &str) -> Hub {
    let clock = Arc::new(ManualClock::new(start()));
    let registry = Arc::new(bundled(test_config()).await);
    let engine = Engine::builder()
        .in_memory()
        .clock(clock.clone())
        .plugins(registry)
        .retry_schedule(RetrySchedule::parse(schedule).unwrap())
        .build()
        .await
        .unwrap();
    let account = engine
        .create_account(&OPERATOR, "acme")
        .await
        .unwrap()
        .account
        .id;
    Hub {
        engine,
        clock,
        account,
    }
}

impl Hub {
    /// A webhook channel to `server`.
    pub async fn webhook(&self, name: &str, server: &TestServer) -> ChannelId {
        self.engine
            .create_channel(
                &OPERATOR,
                self.account,
                NewChannel {
                    name: name.into(),
                    plugin: "webhook".into(),
                    config: json!({"url": server.url("/hook"), "secret": SECRET}),
                    locale: None,
                },
            )
            .await
            .unwrap()
            .id
    }

    /// Sets the subscription of `category`.
    pub async fn subscribe(&self, category: Category, spec: SubscriptionSpec) {
        self.engine
            .put_subscription(&OPERATOR, self.account, category, spec)
            .await
            .unwrap();
    }

    /// Publishes into the account.
    pub async fn publish(&self, message: NewMessage) -> msghub::MessageId {
        self.engine
            .publish(&OPERATOR, self.account, message)
            .await
            .unwrap()
            .message
            .id
    }

    /// The deliveries of a message.
    pub async fn deliveries(&self, id: msghub::MessageId) -> Vec<msghub::DeliveryInfo> {
        self.engine
            .deliveries(&OPERATOR, self.account, id)
            .await
            .unwrap()
    }

    /// Waits (for real, briefly) until the workers have settled `id`'s deliveries into a
    /// state that `done` accepts.
    pub async fn wait_for(
        &self,
        id: msghub::MessageId,
        done: impl Fn(&[msghub::DeliveryInfo]) -> bool,
    ) -> Vec<msghub::DeliveryInfo> {
        for _ in 0..500 {
            let list = self.deliveries(id).await;
            if done(&list) {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("deliveries never settled: {:?}", self.deliveries(id).await);
    }
}

/// Creates account `name` in `engine` whose `category` messages go to a webhook channel
/// (signed with [`SECRET`]) at `server`'s `/hook`; returns the account.
pub async fn webhook_account(
    engine: &Engine,
    name: &str,
    category: Category,
    server: &TestServer,
) -> msghub::AccountId {
    let account = engine
        .create_account(&OPERATOR, name)
        .await
        .unwrap()
        .account
        .id;
    let channel = engine
        .create_channel(
            &OPERATOR,
            account,
            NewChannel {
                name: "hook".into(),
                plugin: "webhook".into(),
                config: json!({"url": server.url("/hook"), "secret": SECRET}),
                locale: None,
            },
        )
        .await
        .unwrap()
        .id;
    let spec = SubscriptionSpec {
        channels: vec![channel],
        ..SubscriptionSpec::default()
    };
    engine
        .put_subscription(&OPERATOR, account, category, spec)
        .await
        .unwrap();
    account
}

/// Whether every delivery of a list has `status`.
pub fn status_is(status: DeliveryStatus) -> impl Fn(&[msghub::DeliveryInfo]) -> bool {
    move |list| !list.is_empty() && list.iter().all(|d| d.status == status)
}

/// The titles every request carried (a digest's messages each), sorted.
pub fn titles(requests: &[Recorded]) -> Vec<String> {
    let mut titles: Vec<String> = requests
        .iter()
        .flat_map(|r| {
            let body = r.json();
            let data = body["data"].clone();
            data["messages"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![data.clone()])
                .into_iter()
                .map(|m| m["title"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    titles.sort();
    titles
}
