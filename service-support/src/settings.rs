//! Settings in three layers: built-in defaults, then a TOML file (named by an environment variable,
//! else the service's default file when it exists), then the documented environment variables. A
//! bad value stops the service at start-up with a message naming the setting, never a request
//! later.
//!
//! A service's settings tree implements [`Layered`]: its defaults (`Default`), its file
//! (`Deserialize`), which variables set what ([`Layered::apply_environment`]) and the checks and
//! derived defaults ([`Layered::validate`]). [`load`] does the rest, the same way for both.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use secrecy::SecretString;
use serde::de::DeserializeOwned;

/// A service's settings tree.
pub trait Layered: DeserializeOwned + Default {
    /// The variable that names another file (`SKILL_CONFIG`).
    const FILE_VARIABLE: &'static str;
    /// The file read when that variable is unset, if it exists (relative to the working
    /// directory: the repository root when started with `cargo run -p ...`).
    const DEFAULT_FILE: &'static str;

    /// Overrides settings with the documented environment variables.
    fn apply_environment(&mut self, environment: &Environment) -> anyhow::Result<()>;

    /// Checks every setting, naming the bad one, and fills the defaults that depend on others.
    fn validate(&mut self) -> anyhow::Result<()>;
}

/// Loads the settings the way the service does: the file, then the process environment. A
/// failure is logged (tracing must be initialised) and returned.
pub fn load<T: Layered>() -> anyhow::Result<T> {
    let environment = Environment::of_process();
    let file = match environment.get(T::FILE_VARIABLE) {
        Some(path) => Some(PathBuf::from(path)),
        None => Some(PathBuf::from(T::DEFAULT_FILE)).filter(|path| path.exists()),
    };
    load_from(file.as_deref(), &environment).inspect_err(|error| {
        tracing::error!("configuration error: {error:#}");
    })
}

/// Loads settings from an optional file and an explicit environment (tests pass their own).
pub fn load_from<T: Layered>(file: Option<&Path>, environment: &Environment) -> anyhow::Result<T> {
    let mut settings = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the configuration file {}", path.display())
            })?;
            toml::from_str::<T>(&text)
                .with_context(|| format!("invalid configuration file {}", path.display()))?
        }
        None => T::default(),
    };
    settings.apply_environment(environment)?;
    settings.validate()?;
    Ok(settings)
}

/// The listener on `bind`; the error names the setting (`variable`).
pub fn listen(bind: SocketAddr, variable: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind} ({variable})"))
}

/// HTTP worker threads: `configured`, or one per core for 0.
pub fn http_workers(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2),
        workers => workers,
    }
}

/// The environment variables a service reads; an empty or blank value counts as unset.
#[derive(Debug, Clone, Default)]
pub struct Environment(HashMap<String, String>);

impl Environment {
    /// The process's environment.
    pub fn of_process() -> Self {
        Self(std::env::vars().collect())
    }

    /// These variables (tests).
    pub fn of(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    /// These variables, owned (tests that build them up).
    pub fn from_map(variables: HashMap<String, String>) -> Self {
        Self(variables)
    }

    /// The variable's value, trimmed; `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// A secret: kept out of `Debug` and logs.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(SecretString::from)
    }

    /// A comma-separated list, items trimmed, empty items left out.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|value| {
            value
                .split(',')
                .map(|item| item.trim().to_owned())
                .filter(|item| !item.is_empty())
                .collect()
        })
    }

    /// A value parsed as `T`; the error names the variable and says what it should be (`what`,
    /// e.g. "host:port, e.g. 127.0.0.1:5001").
    pub fn parsed<T>(&self, name: &str, what: &str) -> anyhow::Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(name)
            .map(|value| {
                value
                    .parse::<T>()
                    .map_err(|error| anyhow::anyhow!("{name}: '{value}' is not {what} ({error})"))
            })
            .transpose()
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    pub fn flag(&self, name: &str) -> anyhow::Result<Option<bool>> {
        self.get(name)
            .map(|value| match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => anyhow::bail!("{name}: '{value}' is not true or false"),
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Example {
        port: u16,
        name: String,
    }

    impl Layered for Example {
        const FILE_VARIABLE: &'static str = "EXAMPLE_CONFIG";
        const DEFAULT_FILE: &'static str = "no/such/file.toml";

        fn apply_environment(&mut self, environment: &Environment) -> anyhow::Result<()> {
            if let Some(port) = environment.parsed("EXAMPLE_PORT", "a port number")? {
                self.port = port;
            }
            Ok(())
        }

        fn validate(&mut self) -> anyhow::Result<()> {
            anyhow::ensure!(self.port != 1, "EXAMPLE_PORT: 1 is reserved");
            Ok(())
        }
    }

    #[test]
    fn defaults_then_the_file_then_the_environment() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("example.toml");
        std::fs::write(&file, "port = 80\nname = \"from the file\"\n").unwrap();
        let loaded: Example =
            load_from(Some(&file), &Environment::of(&[("EXAMPLE_PORT", " 8080 ")])).unwrap();
        assert_eq!((loaded.port, loaded.name.as_str()), (8080, "from the file"));
        let defaults: Example = load_from(None, &Environment::default()).unwrap();
        assert_eq!(defaults.port, 0);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let error = load_from::<Example>(None, &Environment::of(&[("EXAMPLE_PORT", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("EXAMPLE_PORT: 'eighty' is not a port number"),
            "{error}"
        );
        let error = load_from::<Example>(None, &Environment::of(&[("EXAMPLE_PORT", "1")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("reserved"), "{error}");
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("example.toml");
        std::fs::write(&file, "prot = 80\n").unwrap();
        let error = format!(
            "{:#}",
            load_from::<Example>(Some(&file), &Environment::default()).unwrap_err()
        );
        assert!(error.contains("prot"), "{error}");
        let flags = Environment::of(&[("A", "yes"), ("B", "0"), ("C", "maybe"), ("D", " ")]);
        assert_eq!(flags.flag("A").unwrap(), Some(true));
        assert_eq!(flags.flag("B").unwrap(), Some(false));
        assert!(flags
            .flag("C")
            .unwrap_err()
            .to_string()
            .contains("C: 'maybe'"));
        assert_eq!(flags.flag("D").unwrap(), None, "blank is unset");
        assert_eq!(
            Environment::of(&[("L", " a, ,b ")]).list("L"),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
    }
}
