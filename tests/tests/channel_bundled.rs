//! The six bundled channels are built with the workspace and loaded by default, each
//! describing itself as the host needs: hosts, rate limit, secret fields to redact.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use msghub::plugin::PluginInfo;
use msghub_tests::channels::bundled;
use msghub_tests::test_config;

#[tokio::test]
async fn the_six_channels_load_by_default_and_describe_themselves() {
    let registry = bundled(test_config()).await;
    let plugins: BTreeMap<String, Arc<PluginInfo>> =
        registry.plugins().map(|p| (p.name.clone(), p)).collect();
    assert_eq!(
        plugins.keys().map(String::as_str).collect::<Vec<_>>(),
        ["dingtalk", "email", "lark", "slack", "webhook", "wecom"]
    );
    let expect = |name: &str, hosts: &[&str], limit: Option<(u32, u64)>, secrets: &[&str]| {
        let info = &plugins[name];
        assert_eq!(info.hosts, hosts, "{name}");
        assert_eq!(
            info.rate_limit.map(|r| (r.count, r.period)),
            limit.map(|(count, secs)| (count, Duration::from_secs(secs))),
            "{name}"
        );
        let mut found = info.secret_fields();
        found.sort();
        assert_eq!(found, secrets, "{name}");
        assert_eq!(info.interface_version, "0.1.0");
        assert!(!info.description.is_empty());
        assert_eq!(info.config_schema["type"], "object", "{name}");
    };
    expect(
        "dingtalk",
        &["oapi.dingtalk.com"],
        Some((20, 60)),
        &["secret", "webhook_url"],
    );
    expect(
        "wecom",
        &["qyapi.weixin.qq.com"],
        Some((20, 60)),
        &["webhook_url"],
    );
    expect(
        "lark",
        &["open.feishu.cn", "open.larksuite.com"],
        Some((100, 60)),
        &["secret", "webhook_url"],
    );
    expect(
        "slack",
        &["hooks.slack.com"],
        Some((1, 1)),
        &["webhook_url"],
    );
    expect("webhook", &[], None, &["headers", "secret", "secrets"]);
    expect("email", &[], None, &[]);
    assert!(plugins["webhook"].user_supplied_host);
    assert!(!plugins["dingtalk"].user_supplied_host);
}
