//! The web console, driven in a real browser: headless Debian chromium through chromedriver
//! (WebDriver, with fantoccini), against the real `msghub serve` on a fresh data directory,
//! seeded through the HTTP API. The browser must be installed (`scripts/install-browser`);
//! without it these tests fail and say so, rather than pass without having run.
//!
//! The inbox test also writes the README's screenshot, `docs/console-inbox.png`.

mod console;

use fantoccini::key::Key;
use hyper::{Method, StatusCode};
use serde_json::json;

use console::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_shows_badges_marks_all_read_under_a_filter_and_deletes_a_selection() {
    let browser = Browser::start().await;
    let server = Server::start(&[]).await;
    let seeded = seed(&server).await;
    let b = &browser;
    b.sign_in(&server, &seeded).await;

    // Badges: 7 unread in all, 2 of the 3 security notices.
    let unread_of = |category: &str| {
        format!("return document.getElementById('tab-{category}').dataset.unread ?? null")
    };
    b.until("the All badge", &unread_of("all"), json!("7"))
        .await;
    b.until("the security badge", &unread_of("security"), json!("2"))
        .await;
    assert_eq!(b.text("#tab-security .badge").await, "2");
    b.until("every message listed", &rows("rows.length"), json!(8))
        .await;

    // Message text is text: a title holding markup shows the markup, and makes no element.
    let escaped = b
        .js(
            "return [...document.querySelectorAll('.message-link')].some(a =>
               a.textContent === 'Templates now escape <script> tags' && a.children.length === 0)",
            vec![],
        )
        .await;
    assert_eq!(escaped, json!(true), "message titles are escaped");

    let png = b.client.screenshot().await.unwrap();
    std::fs::create_dir_all(screenshot_path().parent().unwrap()).unwrap();
    std::fs::write(screenshot_path(), png).unwrap();

    // Unread security notices: the two that the root has not read.
    b.click("#tab-security").await;
    b.choose("#filter-status", "unread").await;
    let mut unread_security = vec![
        seeded.ids["new-login"].clone(),
        seeded.ids["ddos-attack"].clone(),
    ];
    unread_security.sort();
    b.until(
        "the unread security notices",
        &rows("rows.sort()"),
        json!(unread_security),
    )
    .await;
    assert!(
        b.js("return location.hash", vec![])
            .await
            .as_str()
            .unwrap()
            .contains("status=unread")
    );

    // Mark all read under that filter, after a confirmation that says how many.
    b.click("#action-mark-all-read").await;
    let question = b.confirm_dialog_text().await;
    assert!(
        question.contains('2'),
        "the confirmation names the count: {question}"
    );
    b.click("#confirm-ok").await;
    b.until(
        "the security badge after marking all read",
        &unread_of("security"),
        json!("0"),
    )
    .await;
    b.until(
        "the All badge after marking all read",
        &unread_of("all"),
        json!("5"),
    )
    .await;
    assert!(
        !b.css("#tab-security .badge")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "a zero badge is hidden"
    );
    b.until(
        "the empty filtered list",
        "return !document.getElementById('messages-empty').hidden",
        json!(true),
    )
    .await;
    let after = counts(&server, &seeded).await;
    assert_eq!(after["by_category"]["security"]["unread"], 0);
    assert_eq!(
        after["unread"], 5,
        "only security notices were marked read: {after}"
    );

    // Select two messages of the whole inbox and delete them after confirming.
    b.choose("#filter-status", "all").await;
    b.click("#tab-all").await;
    b.until("every message listed again", &rows("rows.length"), json!(8))
        .await;
    let doomed = [
        seeded.ids["promotion"].clone(),
        seeded.ids["instance-stopped"].clone(),
    ];
    for id in &doomed {
        b.click(&format!(
            "#message-panel tr[data-id='{id}'] input.row-select"
        ))
        .await;
    }
    assert_eq!(b.text("#selection-count").await, "2 selected");

    // Escape cancels: nothing is deleted.
    b.click("#action-delete").await;
    let question = b.confirm_dialog_text().await;
    assert!(
        question.contains('2'),
        "the confirmation names the count: {question}"
    );
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Escape)
        .await
        .unwrap();
    b.until(
        "the dialog closed by Escape",
        "return document.getElementById('confirm').open",
        json!(false),
    )
    .await;
    assert_eq!(
        counts(&server, &seeded).await["total"],
        8,
        "cancelling deletes nothing"
    );
    let focused = b.js("return document.activeElement.id", vec![]).await;
    assert_eq!(
        focused,
        json!("action-delete"),
        "focus returns to the button that opened the dialog"
    );

    b.click("#action-delete").await;
    b.confirm_dialog_text().await;
    b.click("#confirm-ok").await;
    b.until(
        "the list without the deleted messages",
        &rows("rows.length"),
        json!(6),
    )
    .await;
    let remaining = b.js(&rows("rows"), vec![]).await;
    for id in &doomed {
        assert!(
            !remaining.as_array().unwrap().contains(&json!(id)),
            "{id} is gone from the list"
        );
    }
    b.until(
        "the All badge after deleting two unread messages",
        &unread_of("all"),
        json!("3"),
    )
    .await;
    let after = counts(&server, &seeded).await;
    assert_eq!(after["total"], 6, "{after}");
    assert_eq!(after["unread"], 3, "{after}");

    // Opening a message shows it and marks it read.
    let balance = seeded.ids["low-balance"].clone();
    b.click(&format!(
        "#message-panel tr[data-id='{balance}'] a.message-link"
    ))
    .await;
    b.until(
        "the message detail",
        "return document.getElementById('message-title')?.textContent ?? null",
        json!("Balance below 100 CNY"),
    )
    .await;
    b.until(
        "the navigation badge after opening",
        "return document.getElementById('nav-unread')?.textContent ?? null",
        json!("2"),
    )
    .await;
    let message = server
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/accounts/{}/messages/{balance}", seeded.account),
            &seeded.root_token,
            None,
        )
        .await;
    assert_eq!(message["read"], true, "opening a message marks it read");
    b.until(
        "the deliveries section",
        "return document.getElementById('deliveries').getAttribute('aria-busy')",
        json!("false"),
    )
    .await;
    b.click("#back-to-list").await;
    b.until(
        "the inbox again",
        "return document.getElementById('view').dataset.view",
        json!("messages"),
    )
    .await;

    // Bodies are Markdown rendered and sanitized by the server; markup in them stays text.
    let release = seeded.ids["release"].clone();
    b.click(&format!(
        "#message-panel tr[data-id='{release}'] a.message-link"
    ))
    .await;
    b.until(
        "the release notice's body",
        "return document.getElementById('message-body')?.textContent.trim() ?? null",
        json!("<script>document.title='owned'</script> Message templates escape HTML."),
    )
    .await;
    let scripts = b
        .js(
            "return document.querySelectorAll('#message-body script, #message-body b').length",
            vec![],
        )
        .await;
    assert_eq!(scripts, json!(0), "markup in a body makes no element");
    assert!(!b.client.title().await.unwrap().contains("owned"));
    b.click("#back-to-list").await;
    let ddos = seeded.ids["ddos-attack"].clone();
    b.click(&format!(
        "#message-panel tr[data-id='{ddos}'] a.message-link"
    ))
    .await;
    b.until(
        "the DDoS notice's Markdown",
        "return document.querySelector('#message-body strong')?.textContent ?? null",
        json!("Traffic"),
    )
    .await;
    let link = b
        .js(
            "return document.querySelector('#message-body a').getAttribute('href')",
            vec![],
        )
        .await;
    assert_eq!(link, json!("https://example.com/ddos"));

    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_inbox_shows_new_and_deleted_messages_without_a_reload() {
    let browser = Browser::start().await;
    let server = Server::start(&[]).await;
    let seeded = seed(&server).await;
    let b = &browser;
    b.sign_in(&server, &seeded).await;
    let unread_of = |category: &str| {
        format!("return document.getElementById('tab-{category}').dataset.unread ?? null")
    };
    b.until("every message listed", &rows("rows.length"), json!(8))
        .await;
    b.until("the All badge", &unread_of("all"), json!("7"))
        .await;
    b.until(
        "the live stream",
        "return document.documentElement.dataset.live ?? null",
        json!("on"),
    )
    .await;
    // A mark on the page: a reload would lose it.
    b.js("window.stillTheSamePage = true; return null", vec![])
        .await;

    let published = server
        .expect(
            StatusCode::CREATED,
            Method::POST,
            &format!("/v1/accounts/{}/messages", seeded.account),
            ADMIN_TOKEN,
            Some(json!({"category": "security", "severity": "critical",
                        "title": "Key leaked in a public repository"})),
        )
        .await;
    let id = published["id"].as_str().unwrap().to_owned();
    b.until("the new row on top", &rows("rows[0]"), json!(id))
        .await;
    b.until("the All badge counts it", &unread_of("all"), json!("8"))
        .await;
    b.until(
        "the security badge counts it",
        &unread_of("security"),
        json!("3"),
    )
    .await;
    b.until(
        "the navigation badge counts it",
        "return document.getElementById('nav-unread')?.textContent ?? null",
        json!("8"),
    )
    .await;
    assert_eq!(
        b.js(
            "return document.querySelector('tbody tr').classList.contains('arrived')",
            vec![]
        )
        .await,
        json!(true),
        "the new row is marked as arrived"
    );

    // Deleted elsewhere: the row goes, the badge follows.
    server
        .expect(
            StatusCode::NO_CONTENT,
            Method::DELETE,
            &format!("/v1/accounts/{}/messages/{id}", seeded.account),
            &seeded.root_token,
            None,
        )
        .await;
    b.until(
        "the row gone",
        &rows(&format!("rows.includes('{id}') ? -1 : rows.length")),
        json!(8),
    )
    .await;
    b.until("the All badge back", &unread_of("all"), json!("7"))
        .await;
    assert_eq!(
        b.js("return window.stillTheSamePage ?? false", vec![])
            .await,
        json!(true),
        "the page was not reloaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_page_lists_the_changes_newest_first_and_filters_by_kind() {
    let browser = Browser::start().await;
    let server = Server::start(&[]).await;
    let seeded = seed(&server).await;
    let base = format!("/v1/accounts/{}", seeded.account);
    let contact = server
        .expect(
            StatusCode::CREATED,
            Method::POST,
            &format!("{base}/contacts"),
            &seeded.root_token,
            Some(json!({"name": "Ops", "email": "ops@example.com"})),
        )
        .await;
    server
        .expect(
            StatusCode::OK,
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &seeded.root_token,
            Some(json!({"contacts": [contact["id"]], "min_severity": "warning"})),
        )
        .await;
    server
        .expect(
            StatusCode::OK,
            Method::PUT,
            &format!("{base}/subscriptions/security"),
            &seeded.root_token,
            Some(json!({"contacts": [contact["id"]], "min_severity": "critical"})),
        )
        .await;
    let b = &browser;
    b.sign_in(&server, &seeded).await;
    b.click("#nav-history").await;
    let kinds = "const list = document.getElementById('history-list');
         if (!list || list.getAttribute('aria-busy') !== 'false') return null;
         return [...list.querySelectorAll('tbody tr')].map(r => r.dataset.kind);";
    b.until(
        "the history, newest first",
        kinds,
        json!(["subscription", "subscription", "contact"]),
    )
    .await;
    let change = b
        .text("#history-table tbody tr:first-child .history-change")
        .await;
    assert!(
        change.contains("min_severity") && change.contains("warning → critical"),
        "the change shows before and after: {change}"
    );
    b.choose("#history-kind", "contact").await;
    b.click("#history-filters button[type=submit]").await;
    b.until("only the contact", kinds, json!(["contact"])).await;
    browser.client.close().await.unwrap();
}
