//! Lists under every filter, alone and combined, newest first, with paging.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{hub, titles};
use msghub::{Category, Filter, NewMessage, PageRequest, ReadStatus, Selection, Severity};

#[tokio::test]
async fn lists_are_newest_first_and_pages_cover_everything_once() {
    let h = hub().await;
    for i in 0..30 {
        h.publish(NewMessage::new(Category::ALL[i % 6], format!("m{i}")))
            .await;
    }
    let all = h.all(&h.root, &Filter::default()).await;
    let expected: Vec<String> = (0..30).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(titles(&all), expected);
}

#[tokio::test]
async fn each_filter_alone_returns_exactly_its_messages() {
    let h = hub().await;
    let sec_crit = h.publish_n(Category::Security, Severity::Critical, 3).await;
    let sec_info = h.publish_n(Category::Security, Severity::Info, 2).await;
    let acc_warn = h.publish_n(Category::Account, Severity::Warning, 4).await;
    let svc_info = h.publish_n(Category::Service, Severity::Info, 1).await;

    let by_cat = h
        .all(&h.root, &Filter::default().categories([Category::Security]))
        .await;
    assert_eq!(by_cat.len(), 5);
    assert!(by_cat.iter().all(|m| m.category == Category::Security));

    let two_cats = h
        .all(
            &h.root,
            &Filter::default().categories([Category::Account, Category::Service]),
        )
        .await;
    assert_eq!(two_cats.len(), 5);

    let by_sev = h
        .all(&h.root, &Filter::default().severities([Severity::Info]))
        .await;
    assert_eq!(by_sev.len(), sec_info.len() + svc_info.len());

    let warn_or_crit = h
        .all(
            &h.root,
            &Filter::default().severities([Severity::Warning, Severity::Critical]),
        )
        .await;
    assert_eq!(warn_or_crit.len(), sec_crit.len() + acc_warn.len());

    let text = h
        .all(&h.root, &Filter::default().text("ACCOUNT NUMBER 2"))
        .await;
    assert_eq!(titles(&text), vec!["account warning #2"]);

    assert_eq!(
        h.all(&h.root, &Filter::default().text("no such words"))
            .await
            .len(),
        0
    );
}

#[tokio::test]
async fn text_search_is_literal_and_covers_title_or_body() {
    let h = hub().await;
    h.publish(NewMessage::new(Category::Activity, "50% off").body("today only"))
        .await;
    h.publish(NewMessage::new(Category::Activity, "500 credits").body("x_y"))
        .await;
    h.publish(NewMessage::new(Category::Activity, "Ärger im Büro").body("nothing"))
        .await;
    let q = |t: &str| Filter::default().text(t);
    assert_eq!(titles(&h.all(&h.root, &q("50%")).await), vec!["50% off"]);
    assert_eq!(titles(&h.all(&h.root, &q("_")).await), vec!["500 credits"]);
    assert_eq!(titles(&h.all(&h.root, &q("TODAY")).await), vec!["50% off"]);
    assert_eq!(
        titles(&h.all(&h.root, &q("ärger")).await),
        vec!["Ärger im Büro"]
    );
}

#[tokio::test]
async fn time_bounds_are_since_inclusive_until_exclusive() {
    let h = hub().await;
    let t0 = h.engine.now();
    h.publish(NewMessage::new(Category::Product, "at t0")).await;
    h.clock.advance(Duration::from_secs(60));
    let t1 = h.engine.now();
    h.publish(NewMessage::new(Category::Product, "at t1")).await;
    h.clock.advance(Duration::from_secs(60));
    let t2 = h.engine.now();
    h.publish(NewMessage::new(Category::Product, "at t2")).await;

    let since_t1 = h.all(&h.root, &Filter::default().since(t1)).await;
    assert_eq!(titles(&since_t1), vec!["at t2", "at t1"]);
    let until_t1 = h.all(&h.root, &Filter::default().until(t1)).await;
    assert_eq!(titles(&until_t1), vec!["at t0"]);
    let window = h.all(&h.root, &Filter::default().since(t0).until(t2)).await;
    assert_eq!(titles(&window), vec!["at t1", "at t0"]);
    let between = h
        .all(
            &h.root,
            &Filter::default()
                .since(t0 + Duration::from_secs(1))
                .until(t2 + Duration::from_secs(1)),
        )
        .await;
    assert_eq!(titles(&between), vec!["at t2", "at t1"]);
    assert!(
        h.all(&h.root, &Filter::default().since(t1).until(t1))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_clock_that_steps_back_never_makes_a_newer_message_look_older() {
    let h = hub().await;
    h.publish(NewMessage::new(Category::Product, "first")).await;
    h.clock.advance(Duration::from_secs(3600));
    let late = h
        .publish(NewMessage::new(Category::Product, "second"))
        .await;
    h.clock.set(h.engine.now() - Duration::from_secs(7200));
    let skewed = h.publish(NewMessage::new(Category::Product, "third")).await;
    assert!(skewed.created_at >= late.created_at);
    let since = h
        .all(&h.root, &Filter::default().since(late.created_at))
        .await;
    assert_eq!(titles(&since), vec!["third", "second"]);
}

#[tokio::test]
async fn combined_filters_match_a_brute_force_reference() {
    let h = hub().await;
    let mut published = Vec::new();
    for i in 0..120u32 {
        let category = Category::ALL[(i * 7 % 6) as usize];
        let severity = Severity::ALL[(i * 5 % 3) as usize];
        let word = if i % 4 == 0 { "Disk" } else { "cpu" };
        published.push(
            h.publish(
                NewMessage::new(category, format!("{word} alert {i}"))
                    .severity(severity)
                    .body(format!("details {i}")),
            )
            .await,
        );
        if i % 10 == 9 {
            h.clock.advance(Duration::from_secs(10));
        }
    }
    // The root reads every third message.
    let read_ids: Vec<_> = published.iter().step_by(3).map(|m| m.id).collect();
    h.engine
        .mark_read(&h.root, h.account, Selection::Ids(read_ids.clone()))
        .await
        .unwrap();
    let read: HashSet<_> = read_ids.into_iter().collect();
    let since = published[30].created_at;
    let until = published[100].created_at;

    let cat_sets: [&[Category]; 3] = [
        &[Category::Security],
        &[Category::Account, Category::Exception, Category::Service],
        &Category::ALL,
    ];
    let sev_sets: [&[Severity]; 3] = [
        &[Severity::Critical],
        &[Severity::Info, Severity::Warning],
        &Severity::ALL,
    ];
    for cats in cat_sets {
        for sevs in sev_sets {
            for status in [ReadStatus::All, ReadStatus::Unread, ReadStatus::Read] {
                for text in [None, Some("DISK")] {
                    for bounds in [
                        (None, None),
                        (Some(since), None),
                        (Some(since), Some(until)),
                    ] {
                        let mut filter = Filter::default()
                            .categories(cats.iter().copied())
                            .severities(sevs.iter().copied())
                            .status(status);
                        filter.text = text.map(str::to_owned);
                        filter.since = bounds.0;
                        filter.until = bounds.1;
                        let got: Vec<_> =
                            h.all(&h.root, &filter).await.iter().map(|m| m.id).collect();
                        let want: Vec<_> = published
                            .iter()
                            .rev()
                            .filter(|m| cats.contains(&m.category) && sevs.contains(&m.severity))
                            .filter(|m| match status {
                                ReadStatus::All => true,
                                ReadStatus::Unread => !read.contains(&m.id),
                                ReadStatus::Read => read.contains(&m.id),
                            })
                            .filter(|m| text.is_none_or(|_| m.title.starts_with("Disk")))
                            .filter(|m| bounds.0.is_none_or(|s| m.created_at >= s))
                            .filter(|m| bounds.1.is_none_or(|u| m.created_at < u))
                            .map(|m| m.id)
                            .collect();
                        assert_eq!(got, want, "filter {filter:?}");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn a_cursor_from_another_filter_or_garbage_is_refused() {
    let h = hub().await;
    h.publish_n(Category::Security, Severity::Info, 5).await;
    let filter = Filter::default().categories([Category::Security]);
    let page = h
        .engine
        .list_messages(&h.root, h.account, &filter, &PageRequest::first(2))
        .await
        .unwrap();
    let cursor = page.next_cursor.expect("more pages");
    let other = h
        .engine
        .list_messages(
            &h.root,
            h.account,
            &Filter::default(),
            &PageRequest::after(2, cursor),
        )
        .await
        .unwrap_err();
    assert_eq!(other.field(), Some("cursor"));
    let garbage = h
        .engine
        .list_messages(
            &h.root,
            h.account,
            &filter,
            &PageRequest::after(2, "not-a-cursor"),
        )
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), "invalid_argument");
    for limit in [0, 201] {
        let err = h
            .engine
            .list_messages(&h.root, h.account, &filter, &PageRequest::first(limit))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("limit"));
    }
}

#[tokio::test]
async fn paging_while_publishing_never_repeats_or_skips() {
    let h = hub().await;
    let before = h
        .publish_n(Category::Exception, Severity::Warning, 300)
        .await;
    let filter = Filter::default();
    let mut seen = Vec::new();
    let mut page = h
        .engine
        .list_messages(&h.root, h.account, &filter, &PageRequest::first(25))
        .await
        .unwrap();
    let publisher = {
        let engine = h.engine.clone();
        let account = h.account;
        tokio::spawn(async move {
            for i in 0..200 {
                engine
                    .publish(
                        &msghub::Principal::Operator,
                        account,
                        NewMessage::new(Category::Exception, format!("late {i}")),
                    )
                    .await
                    .unwrap();
            }
        })
    };
    loop {
        seen.extend(page.items.iter().map(|m| m.id));
        let Some(cursor) = page.next_cursor else {
            break;
        };
        tokio::task::yield_now().await;
        page = h
            .engine
            .list_messages(&h.root, h.account, &filter, &PageRequest::after(25, cursor))
            .await
            .unwrap();
    }
    publisher.await.unwrap();
    let first_page_len = 25;
    let expected: Vec<_> = before.iter().rev().map(|m| m.id).collect();
    // The first page may hold only messages that existed when it was read; after it, every
    // older message appears exactly once and no newer one sneaks in.
    assert_eq!(seen.len(), expected.len(), "no repeats, no skips");
    assert_eq!(seen[..first_page_len], expected[..first_page_len]);
    assert_eq!(seen, expected);
}
