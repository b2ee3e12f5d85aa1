//! Builds the guests the tests load: the hostile fixtures of `plugins/fixtures` and the
//! example Discord plugin, for wasm32-wasip2. Their paths reach the tests as environment
//! variables (`MSGHUB_WASM_<NAME>`).

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("tests/ sits in the repository");
    let fixtures = [
        "fixture-echo",
        "fixture-hostile",
        "fixture-other-world",
        "fixture-future-version",
        "fixture-slow-info",
    ];
    export(&root.join("plugins/Cargo.toml"), &fixtures);
    export(
        &root.join("examples/discord-plugin/Cargo.toml"),
        &["msghub-discord"],
    );
    println!(
        "cargo:rustc-env=MSGHUB_TEST_CACHE={}",
        root.join("target/plugin-test-cache").display()
    );
}

fn export(manifest: &Path, packages: &[&str]) {
    let built = msghub_guest_build::build(manifest, packages).unwrap_or_else(|e| panic!("{e}"));
    for (package, path) in packages.iter().zip(built) {
        let var = package
            .trim_start_matches("fixture-")
            .trim_start_matches("msghub-")
            .replace('-', "_")
            .to_uppercase();
        println!("cargo:rustc-env=MSGHUB_WASM_{var}={}", path.display());
    }
}
