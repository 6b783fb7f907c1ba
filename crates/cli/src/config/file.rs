//! The config file (TOML, `--config`): its keys are the settings' names, and each value it
//! gives becomes clap's default for that setting. Clap then applies flag > environment >
//! default, which is exactly flag > environment > file > built-in default.

use anyhow::{bail, Context};
use clap::{Arg, Command};
use std::error::Error as _;
use std::path::Path;

/// `command` with the values of the config file at `path` as its defaults.
pub fn apply(mut command: Command, path: &Path) -> anyhow::Result<Command> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
    for (key, value) in table {
        let Some(arg) = command
            .get_arguments()
            .find(|arg| arg.get_id() == key.as_str() && key != "config")
        else {
            bail!(
                "config file {}: unknown key {key:?} (the keys are those of the README's \
                 configuration table; `bookstore --help` lists the settings)",
                path.display()
            );
        };
        let text =
            to_text(&value).with_context(|| format!("config file {}: {key}", path.display()))?;
        check(arg, &text)
            .map_err(|reason| anyhow::anyhow!("config file {}: {key}: {reason}", path.display()))?;
        // A secret's value must not show up as a default in --help.
        let secret = arg.is_hide_env_values_set();
        command = command.mut_arg(key, |arg| {
            arg.default_value(text).hide_default_value(secret)
        });
    }
    Ok(command)
}

/// A TOML value as clap would read it from the command line: lists comma-separated, tables
/// (`[[trusted_issuers]]`) as JSON.
fn to_text(value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(n) => n.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) if items.iter().all(|i| !i.is_table() && !i.is_array()) => {
            let items = items
                .iter()
                .map(to_text)
                .collect::<anyhow::Result<Vec<_>>>()?;
            items.join(",")
        }
        toml::Value::Array(_) | toml::Value::Table(_) => serde_json::to_string(value)?,
    })
}

/// Runs the file's value through the setting's own parser, so that a bad value is reported
/// with the key it came from rather than the flag.
fn check(arg: &Arg, text: &str) -> Result<(), String> {
    let Some(long) = arg.get_long() else {
        return Ok(());
    };
    let probe = Command::new("config").no_binary_name(true).arg(
        arg.clone()
            .env(None)
            .default_value(None)
            .global(false)
            .required(false),
    );
    match probe.try_get_matches_from([format!("--{long}={text}")]) {
        Ok(_) => Ok(()),
        Err(err) => Err(match err.source() {
            Some(source) => source.to_string(),
            None => err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned(),
        }),
    }
}
