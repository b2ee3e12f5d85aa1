//! Every write sees the writes before it, also inside one commit group: the rules the writer
//! checks (a subscription names existing targets, a target in use cannot be deleted, names are
//! unique) hold however concurrent requests interleave. Each test submits a conflicting pair
//! at once, many times, and checks the stored state after every round; a pair submitted
//! together usually lands in one group, which is where the checks used to read only the last
//! commit.

use std::sync::Arc;

use msghub::{
    AccountId, Category, ChannelId, ContactId, Engine, Error, NewChannel, NewContact, Principal,
    SubscriptionSpec,
};
use msghub_tests::channels::bundled;
use msghub_tests::test_config;
use serde_json::json;

const OPERATOR: Principal = Principal::Operator;
const ROUNDS: usize = 150;

async fn engine() -> (Engine, AccountId) {
    let registry = Arc::new(bundled(test_config()).await);
    let engine = Engine::builder()
        .plugins(registry)
        .in_memory()
        .build()
        .await
        .unwrap();
    let account = engine
        .create_account(&OPERATOR, "acme")
        .await
        .unwrap()
        .account
        .id;
    (engine, account)
}

async fn channel(engine: &Engine, account: AccountId, name: &str) -> ChannelId {
    engine
        .create_channel(
            &OPERATOR,
            account,
            NewChannel {
                name: name.into(),
                plugin: "webhook".into(),
                config: json!({"url": "https://hooks.example.com/x",
                               "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
                locale: None,
            },
        )
        .await
        .unwrap()
        .id
}

/// The stored subscription of `category` names only targets that exist.
fn assert_targets_exist(engine: &Engine, account: AccountId, category: Category, round: usize) {
    let Ok(sub) = engine.subscription(&OPERATOR, account, category) else {
        return;
    };
    for id in &sub.channels {
        assert!(
            engine.channel(&OPERATOR, account, *id).is_ok(),
            "round {round}: the subscription names channel {id}, which does not exist"
        );
    }
    for id in &sub.contacts {
        assert!(
            engine.contact(&OPERATOR, account, *id).is_ok(),
            "round {round}: the subscription names contact {id}, which does not exist"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_channel_while_subscribing_to_it_never_leaves_a_dangling_target() {
    let (engine, account) = engine().await;
    for round in 0..ROUNDS {
        let id = channel(&engine, account, &format!("hook-{round}")).await;
        let spec = SubscriptionSpec {
            channels: vec![id],
            ..SubscriptionSpec::default()
        };
        let (deleted, put) = tokio::join!(
            engine.delete_channel(&OPERATOR, account, id),
            engine.put_subscription(&OPERATOR, account, Category::Security, spec),
        );
        assert_targets_exist(&engine, account, Category::Security, round);
        // One of them took effect first; the other saw it.
        match (&deleted, &put) {
            (Ok(()), Err(Error::InvalidArgument { .. })) | (Err(Error::Conflict(_)), Ok(_)) => {}
            other => panic!("round {round}: both or neither took effect: {other:?}"),
        }
        if put.is_ok() {
            engine
                .delete_subscription(&OPERATOR, account, Category::Security)
                .await
                .unwrap();
            engine.delete_channel(&OPERATOR, account, id).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_contact_while_subscribing_to_it_never_leaves_a_dangling_target() {
    let (engine, account) = engine().await;
    for round in 0..ROUNDS {
        let id: ContactId = engine
            .create_contact(
                &OPERATOR,
                account,
                NewContact {
                    name: format!("ops-{round}"),
                    email: format!("ops{round}@example.com"),
                    locale: None,
                },
            )
            .await
            .unwrap()
            .id;
        let spec = SubscriptionSpec {
            contacts: vec![id],
            ..SubscriptionSpec::default()
        };
        let (deleted, put) = tokio::join!(
            engine.delete_contact(&OPERATOR, account, id),
            engine.put_subscription(&OPERATOR, account, Category::Account, spec),
        );
        assert_targets_exist(&engine, account, Category::Account, round);
        match (&deleted, &put) {
            (Ok(()), Err(Error::InvalidArgument { .. })) | (Err(Error::Conflict(_)), Ok(_)) => {}
            other => panic!("round {round}: both or neither took effect: {other:?}"),
        }
        if put.is_ok() {
            engine
                .delete_subscription(&OPERATOR, account, Category::Account)
                .await
                .unwrap();
            engine.delete_contact(&OPERATOR, account, id).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_freed_and_reused_in_one_group_keeps_names_unique() {
    let (engine, account) = engine().await;
    for round in 0..ROUNDS {
        let name = format!("hook-{round}");
        let old = channel(&engine, account, &name).await;
        let (deleted, created) = tokio::join!(
            engine.delete_channel(&OPERATOR, account, old),
            engine.create_channel(
                &OPERATOR,
                account,
                NewChannel {
                    name: name.clone(),
                    plugin: "webhook".into(),
                    config: json!({"url": "https://hooks.example.com/y",
                                   "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
                    locale: None,
                },
            ),
        );
        deleted.unwrap();
        // Either order is a valid outcome; the name is never held twice.
        let page = engine
            .channels(&OPERATOR, account, &msghub::PageRequest::default())
            .unwrap();
        let holders = page.items.iter().filter(|c| c.name == name).count();
        assert_eq!(
            holders,
            usize::from(created.is_ok()),
            "round {round}: {created:?}"
        );
        if let Ok(new) = created {
            engine
                .delete_channel(&OPERATOR, account, new.id)
                .await
                .unwrap();
        }
    }
}
