//! Bad input is refused with an error that names the field and says what is allowed, and
//! nothing is stored.

mod common;

use common::hub;
use msghub::{Category, CategorySet, Filter, NewMessage, NewUser, Principal, Selection};

#[tokio::test]
async fn each_kind_of_bad_message_names_its_field_and_stores_nothing() {
    let h = hub().await;
    let long = "x".repeat(300);
    let cases: Vec<(NewMessage, &str)> = vec![
        (
            NewMessage {
                title: "t".into(),
                ..NewMessage::default()
            },
            "category",
        ),
        (NewMessage::new(Category::Account, ""), "title"),
        (NewMessage::new(Category::Account, "a\nb"), "title"),
        (NewMessage::new(Category::Account, "x".repeat(257)), "title"),
        (
            NewMessage::new(Category::Account, "t").body("b".repeat(65_537)),
            "body",
        ),
        (
            NewMessage::new(Category::Account, "t").subtype(""),
            "subtype",
        ),
        (
            NewMessage::new(Category::Account, "t").subtype(long.clone()),
            "subtype",
        ),
        (
            NewMessage::new(Category::Account, "t").link("javascript:alert(1)"),
            "link",
        ),
        (
            NewMessage::new(Category::Account, "t").resource("r".repeat(513)),
            "resource",
        ),
        (
            NewMessage::new(Category::Account, "t").dedupe_key(""),
            "dedupe_key",
        ),
        (
            NewMessage::new(Category::Account, "t").dedupe_key("k".repeat(257)),
            "dedupe_key",
        ),
    ];
    for (message, field) in cases {
        let err = h
            .engine
            .publish(&Principal::Operator, h.account, message)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_argument");
        assert_eq!(err.field(), Some(field), "{err}");
        assert!(
            err.to_string().contains(field),
            "message names the field: {err}"
        );
    }
    assert_eq!(h.engine.counts(&h.root, h.account).unwrap().total, 0);
}

#[tokio::test]
async fn bad_filters_and_names_are_refused() {
    let h = hub().await;
    let err = msghub::parse_time("yesterday", "since").unwrap_err();
    assert_eq!(err.field(), Some("since"));
    let t = h.engine.now();
    let backwards = Filter::default()
        .since(t)
        .until(t - std::time::Duration::from_secs(1));
    let err = h
        .engine
        .mark_read(&h.root, h.account, Selection::Filter(backwards))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("until"));
    let err = h
        .engine
        .mark_read(
            &h.root,
            h.account,
            Selection::Filter(Filter::default().text("q".repeat(257))),
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("q"));
    let empty = Filter {
        categories: Some(CategorySet::empty()),
        ..Filter::default()
    };
    let err = h
        .engine
        .delete_messages(&h.root, h.account, Selection::Filter(empty))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("category"));
    assert_eq!(
        h.engine
            .create_account(&Principal::Operator, " ")
            .await
            .unwrap_err()
            .field(),
        Some("name")
    );
    let err = h
        .engine
        .create_user(
            &h.root,
            h.account,
            NewUser {
                name: "u".into(),
                policies: vec![],
                categories: Some(vec![]),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("categories"));
    let err = msghub::Policy::parse_field("Admin", "policies").unwrap_err();
    assert!(err.to_string().contains("NotificationsReadOnlyAccess"));
}

#[tokio::test]
async fn unknown_accounts_are_not_found() {
    let h = hub().await;
    let missing: msghub::AccountId = "acc_0000000000009".parse().unwrap();
    let err = h
        .engine
        .publish(
            &Principal::Operator,
            missing,
            NewMessage::new(Category::Account, "t"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    assert_eq!(
        h.engine
            .counts(&Principal::Operator, missing)
            .unwrap_err()
            .code(),
        "not_found"
    );
}
