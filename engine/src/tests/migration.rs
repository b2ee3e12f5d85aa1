//! A store of schema version 2 (records without locales or quiet hours) is upgraded when it
//! is opened: every account, channel, contact and subscription is re-encoded in the open
//! transaction, and reads as before, with the new fields empty.

use redb::{Database, ReadableDatabase};

use crate::ids::AccountId;
use crate::model::{Category, Severity};
use crate::store::records::{DigestRecord, decode, encode, v2};
use crate::store::{ACCOUNTS, CHANNELS, CONTACTS, META, SUBSCRIPTIONS};
use crate::{ContactId, Engine, PageRequest, Principal};

/// Rewrites the store at `path` as version 2 wrote it: the four records in their old
/// layouts (a channel added beside the contact), and the old schema version.
fn downgrade_to_v2(path: &std::path::Path, account: AccountId, contact: ContactId) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let old = v2::Account {
            name: "acme".into(),
            created: 1,
            retention_days: 30,
        };
        txn.open_table(ACCOUNTS)
            .unwrap()
            .insert(account.0, encode("account", &old).unwrap().as_slice())
            .unwrap();
        let old = v2::Channel {
            name: "hook".into(),
            plugin: "webhook".into(),
            config: br#"{"url":"https://hooks.example.com/in"}"#.to_vec(),
            sealed: false,
            created: 2,
        };
        txn.open_table(CHANNELS)
            .unwrap()
            .insert((account.0, 7), encode("channel", &old).unwrap().as_slice())
            .unwrap();
        let old = v2::Contact {
            name: "Finance".into(),
            email: "fin@example.com".into(),
            created: 3,
        };
        txn.open_table(CONTACTS)
            .unwrap()
            .insert(
                (account.0, contact.0),
                encode("contact", &old).unwrap().as_slice(),
            )
            .unwrap();
        let old = v2::Subscription {
            subtypes: Some(vec!["low-balance".into()]),
            min_severity: Severity::Warning,
            contacts: vec![contact.0],
            channels: vec![7],
            digest: Some(DigestRecord {
                cron: "0 0 9 * * *".into(),
                timezone: "Asia/Shanghai".into(),
            }),
            updated: 4,
        };
        txn.open_table(SUBSCRIPTIONS)
            .unwrap()
            .insert(
                (account.0, Category::Account.index() as u8),
                encode("subscription", &old).unwrap().as_slice(),
            )
            .unwrap();
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("schema_version", 2).unwrap();
        // Version 2 sealed nothing without a key; no fingerprint.
        meta.remove(crate::store::KEY_FINGERPRINT).unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn a_version_2_store_is_upgraded_at_open_and_reads_as_before() {
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
    let contact = ContactId(11);
    downgrade_to_v2(&path, account, contact);

    let engine = open().await.unwrap();
    let op = Principal::Operator;
    let shown = engine.account(&op, account).unwrap();
    assert_eq!((shown.name.as_str(), shown.retention_days), ("acme", 30));
    assert_eq!(shown.locale, None);
    let contacts = engine
        .contacts(&op, account, &PageRequest::default())
        .unwrap();
    assert_eq!(contacts.items.len(), 1);
    assert_eq!(contacts.items[0].email, "fin@example.com");
    assert_eq!(contacts.items[0].locale, None);
    let channel = engine.channel(&op, account, crate::ChannelId(7)).unwrap();
    assert_eq!((channel.name.as_str(), channel.locale), ("hook", None));
    let sub = engine
        .subscription(&op, account, Category::Account)
        .unwrap();
    assert_eq!(sub.min_severity, Severity::Warning);
    assert_eq!(sub.contacts, vec![contact]);
    assert_eq!(sub.quiet_hours, None);
    assert_eq!(
        sub.digest.map(|d| d.timezone),
        Some("Asia/Shanghai".to_owned())
    );
    // What is set now is kept in the new layout.
    engine
        .set_account_locale(&op, account, Some("zh-CN".into()))
        .await
        .unwrap();
    engine.close().await;
    drop(engine);

    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let version = txn
        .open_table(META)
        .unwrap()
        .get("schema_version")
        .unwrap()
        .map(|v| v.value());
    assert_eq!(version, Some(3));
    let bytes = txn
        .open_table(CONTACTS)
        .unwrap()
        .get((account.0, contact.0))
        .unwrap()
        .unwrap();
    let record: crate::store::records::ContactRecord = decode("contact", bytes.value()).unwrap();
    assert_eq!(record.name, "Finance");
    let bytes = txn
        .open_table(ACCOUNTS)
        .unwrap()
        .get(account.0)
        .unwrap()
        .unwrap();
    let record: crate::store::records::AccountRecord = decode("account", bytes.value()).unwrap();
    assert_eq!(record.locale.as_deref(), Some("zh-CN"));
}
