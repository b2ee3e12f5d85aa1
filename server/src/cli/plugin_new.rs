//! `msghub plugin new --lang rust|python|js NAME`: writes a channel plugin project that
//! builds with one command into a component this msghub loads. The templates live in
//! `server/templates/plugin-<lang>/` and are embedded in the binary; `{{name}}` and the other
//! placeholders are filled in here. It never writes into a directory that exists.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use include_dir::{Dir, DirEntry, include_dir};

use super::plugin::WIT_FILES;

static RUST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/plugin-rust");
static PYTHON: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/plugin-python");
static JS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/plugin-js");

/// The toolchain file of this repository: a Rust plugin builds with the toolchain the SDK
/// is built with, and rustup adds the wasm target when it installs that toolchain.
const RUST_TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");

/// Where the SDK's sources were when this binary was built: the default of `--sdk`.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// The arguments of `msghub plugin new`.
#[derive(Debug, Args)]
pub struct NewPlugin {
    /// The language of the project.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The plugin's name, as channels will name it: a lowercase letter, then up to 63 of
    /// a-z, 0-9, '-' and '_' (e.g. teams).
    pub name: String,
    /// The project directory to create (default ./NAME); it must not exist.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// For --lang rust: the msghub-sdk crate to depend on, the `sdk/` directory of a msghub
    /// checkout (default: the one this msghub was built from).
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,
}

/// The languages a project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust with the msghub-sdk crate, built by cargo for wasm32-wasip2.
    Rust,
    /// Python, built by componentize-py (from PyPI).
    Python,
    /// JavaScript, built by componentize-js (from npm).
    Js,
}

impl Lang {
    /// The name `--lang` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    fn template(self) -> &'static Dir<'static> {
        match self {
            Lang::Rust => &RUST,
            Lang::Python => &PYTHON,
            Lang::Js => &JS,
        }
    }

    /// The one command, run in the project directory, that builds the component.
    pub fn build_command(self, name: &str) -> String {
        match self {
            Lang::Rust => "cargo build --target wasm32-wasip2 --release".to_owned(),
            Lang::Python => {
                format!("componentize-py -d wit -w channel componentize app -o {name}.wasm")
            }
            Lang::Js => "npm run build".to_owned(),
        }
    }

    /// The command that runs the project's tests on this machine.
    pub fn test_command(self) -> &'static str {
        match self {
            Lang::Rust => "cargo test",
            Lang::Python => "python3 -m unittest",
            Lang::Js => "npm test",
        }
    }

    /// The component the build writes, relative to the project directory.
    pub fn component(self, name: &str) -> String {
        match self {
            Lang::Rust => format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
            Lang::Python | Lang::Js => format!("{name}.wasm"),
        }
    }
}

/// Why no project was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NewPluginError {
    /// The name is not a plugin name.
    #[error(
        "'{0}' is not a valid plugin name: use a lowercase letter, then up to 63 of a-z, 0-9, \
         '-' and '_' (e.g. teams)"
    )]
    InvalidName(String),
    /// The project directory exists.
    #[error("{0} already exists: choose another NAME or --dir; nothing was written")]
    DirectoryExists(PathBuf),
    /// `--sdk` (or its default) is not the msghub-sdk crate.
    #[error(
        "{0} is not the msghub-sdk crate (no Cargo.toml naming msghub-sdk): pass --sdk PATH \
         with the sdk/ directory of a msghub checkout"
    )]
    SdkNotFound(PathBuf),
    /// A path cannot be written into Cargo.toml.
    #[error("the SDK path {0} is not valid UTF-8: pass --sdk with another path")]
    SdkPathNotUtf8(PathBuf),
    /// Creating a directory or writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
}

/// Writes the project and prints what to do next.
pub fn run(args: NewPlugin) -> Result<(), NewPluginError> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    create(&args, &dir)?;
    let name = &args.name;
    let lang = args.lang;
    println!(
        "created the {name} plugin ({}) in {}",
        lang.as_str(),
        dir.display()
    );
    println!(
        "build it:  cd {} && {}",
        dir.display(),
        lang.build_command(name)
    );
    println!("test it:   {}", lang.test_command());
    println!(
        "try it:    msghub plugin validate {} --config '{{\"url\": \"https://hooks.example.com/in\"}}'",
        lang.component(name)
    );
    println!("README.md says the rest.");
    Ok(())
}

/// Creates `dir` and writes the project of `args` into it.
pub fn create(args: &NewPlugin, dir: &Path) -> Result<(), NewPluginError> {
    if !valid_name(&args.name) {
        return Err(NewPluginError::InvalidName(args.name.clone()));
    }
    let sdk = match args.lang {
        Lang::Rust => Some(sdk_dependency(args.sdk.as_deref())?),
        Lang::Python | Lang::Js => None,
    };
    let placeholders = [
        ("{{name}}", args.name.clone()),
        ("{{build}}", args.lang.build_command(&args.name)),
        ("{{test}}", args.lang.test_command().to_owned()),
        ("{{component}}", args.lang.component(&args.name)),
        ("{{sdk}}", sdk.unwrap_or_default()),
    ];
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| write_error(parent, source))?;
    }
    // create_dir, not create_dir_all: it fails when the directory exists, so a project is
    // never written over anything.
    std::fs::create_dir(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => NewPluginError::DirectoryExists(dir.to_owned()),
        _ => write_error(dir, source),
    })?;
    write_template(args.lang.template(), dir, &placeholders)?;
    match args.lang {
        Lang::Rust => write_file(&dir.join("rust-toolchain.toml"), RUST_TOOLCHAIN),
        // componentize-py and componentize-js read the contract from wit/.
        Lang::Python | Lang::Js => WIT_FILES
            .iter()
            .try_for_each(|(path, text)| write_file(&dir.join("wit").join(path), text)),
    }
}

/// A plugin name as the host accepts it, starting with a letter so that it is also a valid
/// crate and package name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The `msghub-sdk = ...` value of the generated Cargo.toml: a path dependency on `sdk`, or
/// on the SDK this binary was built from.
fn sdk_dependency(sdk: Option<&Path>) -> Result<String, NewPluginError> {
    let given = sdk.map_or_else(|| PathBuf::from(BUILT_SDK), Path::to_owned);
    let manifest = std::fs::read_to_string(given.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("name = \"msghub-sdk\"") {
        return Err(NewPluginError::SdkNotFound(given));
    }
    let path = std::fs::canonicalize(&given).map_err(|_| NewPluginError::SdkNotFound(given))?;
    let text = path
        .to_str()
        .ok_or_else(|| NewPluginError::SdkPathNotUtf8(path.clone()))?;
    // A JSON string is a valid TOML basic string: the same escapes.
    Ok(format!("{{ path = {} }}", serde_json::Value::from(text)))
}

fn write_template(
    template: &Dir<'_>,
    dir: &Path,
    placeholders: &[(&str, String)],
) -> Result<(), NewPluginError> {
    for entry in template.entries() {
        match entry {
            DirEntry::Dir(sub) => write_template(sub, dir, placeholders)?,
            DirEntry::File(file) => {
                let text = String::from_utf8_lossy(file.contents());
                let filled = placeholders
                    .iter()
                    .fold(text.into_owned(), |t, (key, value)| t.replace(key, value));
                write_file(&dir.join(file.path()), &filled)?;
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), NewPluginError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| write_error(parent, source))?;
    }
    std::fs::write(path, text).map_err(|source| write_error(path, source))
}

fn write_error(path: &Path, source: std::io::Error) -> NewPluginError {
    NewPluginError::Write {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn plugin_names_are_lowercase_and_start_with_a_letter() {
        for good in ["teams", "a", "ms-teams_2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Teams",
            "2fa",
            "-x",
            "a b",
            "ü",
            "../x",
            &"a".repeat(65),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
