//! Builds the bundled channel plugins for wasm32-wasip2 (adding the target to the toolchain
//! when it is missing) and embeds them (`msghub_bundled::BUNDLED`). This crate, not the
//! engine, needs the wasm target: an embedder who brings their own plugins builds `msghub`
//! without it.

use std::path::PathBuf;

/// The bundled channels: (plugin name, package in the `plugins/` workspace). Add each new
/// `plugins/<name>/` crate here.
const BUNDLED: &[(&str, &str)] = &[
    ("dingtalk", "msghub-dingtalk"),
    ("email", "msghub-email"),
    ("lark", "msghub-lark"),
    ("slack", "msghub-slack"),
    ("webhook", "msghub-webhook"),
    ("wecom", "msghub-wecom"),
];

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = out.join("bundled_plugins.rs");
    let mut entries = Vec::new();
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir.join("../plugins/Cargo.toml");
    let packages: Vec<&str> = BUNDLED.iter().map(|(_, package)| *package).collect();
    let wasm = msghub_guest_build::build(&workspace, &packages).unwrap_or_else(|e| panic!("{e}"));
    for ((name, _), path) in BUNDLED.iter().zip(wasm) {
        entries.push(format!(
            "({name:?}, include_bytes!({:?}))",
            path.display().to_string()
        ));
    }
    let code = format!("&[{}]\n", entries.join(", "));
    std::fs::write(&target, code).expect("OUT_DIR is writable");
}
