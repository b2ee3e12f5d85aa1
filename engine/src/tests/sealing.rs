//! A store written by an older build (channel configurations kept plain, no key
//! fingerprint) is sealed when it is opened, once and whole.

use redb::{Database, ReadableDatabase};

use crate::ids::AccountId;
use crate::ids::ChannelId;
use crate::store::records::{ChannelRecord, decode, encode};
use crate::store::{CHANNELS, KEY_FINGERPRINT, META};
use crate::{Engine, Principal};

/// Writes a channel the way a store without a key kept it: plain JSON, and no key
/// fingerprint.
fn write_plain_channel(path: &std::path::Path, account: AccountId, config: &str) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let record = ChannelRecord {
            name: "hook".into(),
            plugin: "webhook".into(),
            config: config.as_bytes().to_vec(),
            sealed: false,
            created: 0,
            locale: None,
        };
        let mut channels = txn.open_table(CHANNELS).unwrap();
        let bytes = encode("channel", &record).unwrap();
        channels.insert((account.0, 7), bytes.as_slice()).unwrap();
        txn.open_table(META)
            .unwrap()
            .remove(KEY_FINGERPRINT)
            .unwrap();
    }
    txn.commit().unwrap();
}

/// The channel's configuration as the engine opens it to deliver (the API's view
/// redacts it: without a plugin to name the secret fields, all of it).
fn opened_config(engine: &Engine, account: AccountId) -> serde_json::Value {
    let record = engine
        .inner
        .store
        .state
        .read()
        .channel(account, 7)
        .cloned()
        .unwrap();
    let text = engine
        .inner
        .secrets
        .open(&record.config, record.sealed)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn stored_channel(path: &std::path::Path, account: AccountId) -> ChannelRecord {
    let db = Database::create(path).unwrap();
    let txn = db.begin_read().unwrap();
    let channels = txn.open_table(CHANNELS).unwrap();
    let bytes = channels.get((account.0, 7)).unwrap().unwrap();
    decode("channel", bytes.value()).unwrap()
}

#[tokio::test]
async fn plain_channel_configs_are_sealed_when_an_older_store_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msghub.redb");
    let open = || Engine::builder().path(&path).background(false).build();
    let engine = open().await.unwrap();
    let account = engine
        .create_account(&Principal::Operator, "acme")
        .await
        .unwrap()
        .account
        .id;
    engine.close().await;
    drop(engine);
    let config = r#"{"url":"https://hooks.example.com/in","secret":"plain-secret-1234"}"#;
    write_plain_channel(&path, account, config);

    let engine = open().await.unwrap();
    let channel = engine
        .channel(&Principal::Operator, account, ChannelId(7))
        .unwrap();
    assert_eq!(channel.config["secret"], "***");
    assert_eq!(
        opened_config(&engine, account)["secret"],
        "plain-secret-1234"
    );
    engine.close().await;
    drop(engine);
    let record = stored_channel(&path, account);
    assert!(record.sealed, "the upgrade left the configuration plain");
    let text = String::from_utf8_lossy(&record.config);
    assert!(!text.contains("plain-secret-1234"), "{text}");

    // Opening again does not seal twice: the channel still reads back.
    let engine = open().await.unwrap();
    assert_eq!(
        opened_config(&engine, account)["url"],
        "https://hooks.example.com/in"
    );
}
