//! Secrets: each takes its value (`NAME`) or a file holding it (`NAME_FILE`), in any layer.
//! The pair is one setting: the highest layer that sets either wins, so `--database-url-file`
//! beats `DATABASE_URL`, and `DATABASE_URL_FILE` beats the config file's `database_url`.

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};

/// Where a secret's value was found (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Given as the value in a layer (which may be a `vault:` reference, resolved later).
    Value { layer: &'static str },
    /// Read from a file named in a layer: re-read when it changes.
    File { path: PathBuf, layer: &'static str },
}

/// A secret setting that has a value, and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// The setting's id (`database_url`).
    pub id: String,
    /// The name operators know it by: its environment variable (`DATABASE_URL`).
    pub name: String,
    pub origin: Origin,
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Origin::Value { layer } => write!(f, "{} from {layer}", self.name),
            Origin::File { path, layer } => write!(
                f,
                "{} from the file {} named in {layer}",
                self.name,
                path.display()
            ),
        }
    }
}

/// Resolves secrets against the layers `matches` records, noting where each came from.
pub struct Secrets<'a> {
    matches: &'a ArgMatches,
    command: &'a Command,
    /// Where each secret came from, by name, never by value.
    pub sources: Vec<SecretSource>,
}

/// Higher is stronger: flag, environment, config file (clap's defaults come from the file;
/// secrets have no built-in default).
fn rank(source: Option<ValueSource>) -> u8 {
    match source {
        Some(ValueSource::CommandLine) => 3,
        Some(ValueSource::EnvVariable) => 2,
        Some(ValueSource::DefaultValue) => 1,
        _ => 0,
    }
}

fn layer(rank: u8) -> &'static str {
    match rank {
        3 => "the command line",
        2 => "the environment",
        _ => "the config file",
    }
}

impl<'a> Secrets<'a> {
    pub fn new(matches: &'a ArgMatches, command: &'a Command) -> Self {
        Self {
            matches,
            command,
            sources: Vec::new(),
        }
    }

    /// The secret of setting `id` from its value or its file (setting `{id}_file`), whichever
    /// comes from the higher layer; both in one layer is a mistake worth stopping for.
    pub fn pick(
        &mut self,
        id: &str,
        value: Option<SecretString>,
        file: Option<PathBuf>,
    ) -> anyhow::Result<Option<SecretString>> {
        let file_id = format!("{id}_file");
        let name = self.name(id);
        let value_rank = if value.is_some() {
            rank(self.matches.value_source(id))
        } else {
            0
        };
        let file_rank = if file.is_some() {
            rank(self.matches.value_source(&file_id))
        } else {
            0
        };
        if value_rank > 0 && value_rank == file_rank {
            bail!(
                "{name} and {name}_FILE are both set in {}: set only one",
                layer(value_rank)
            );
        }
        let (secret, origin) = match (value, file) {
            (Some(value), _) if value_rank > file_rank => (
                value,
                Origin::Value {
                    layer: layer(value_rank),
                },
            ),
            (_, Some(path)) => (
                read_secret_file(&path, &name)?,
                Origin::File {
                    path,
                    layer: layer(file_rank),
                },
            ),
            _ => return Ok(None),
        };
        // An empty value means "not set", as an empty environment variable usually does.
        if secret.expose_secret().trim().is_empty() {
            return Ok(None);
        }
        self.sources.push(SecretSource {
            id: id.to_owned(),
            name,
            origin,
        });
        Ok(Some(secret))
    }

    /// The setting's environment variable, the name operators know it by.
    fn name(&self, id: &str) -> String {
        self.command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .and_then(|arg| arg.get_env())
            .map_or_else(
                || id.to_ascii_uppercase(),
                |env| env.to_string_lossy().into_owned(),
            )
    }
}

pub fn read_secret_file(path: &Path, name: &str) -> anyhow::Result<SecretString> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("reading {name} from {}", path.display()))?;
    let value = content.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        bail!("{name} file {} is empty", path.display());
    }
    Ok(SecretString::from(value.to_owned()))
}
