//! The SDK carries its own copy of the plugin contract (`sdk/wit/`), so that the packaged
//! crate and copies of it build on their own; the host compiles the repository's `wit/`.
//! The two must be the same files with the same text, or plugins built with the SDK would
//! implement a contract the host does not run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every `.wit` file under `root`, by its path relative to `root`, with its text.
fn wit_files(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, String>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else if path.extension().is_some_and(|e| e == "wit") {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                let relative = path.strip_prefix(root).expect("under root").to_owned();
                files.insert(relative, text);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

#[test]
fn the_sdk_wit_is_the_repository_wit() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repository = wit_files(&sdk.join("../wit"));
    let copy = wit_files(&sdk.join("wit"));
    assert!(repository.contains_key(Path::new("notifier.wit")));
    let names = |files: &BTreeMap<PathBuf, String>| files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&copy),
        names(&repository),
        "sdk/wit/ and wit/ hold different files: copy them with `rm -r sdk/wit && cp -r wit sdk/wit`"
    );
    for (path, text) in &repository {
        assert!(
            copy[path] == *text,
            "sdk/wit/{} differs from wit/{}: copy it with `rm -r sdk/wit && cp -r wit sdk/wit`",
            path.display(),
            path.display()
        );
    }
}
