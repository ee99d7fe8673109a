//! Reads configuration YAML into a [`Config`]: yaml-rust2 events become a small
//! positioned tree, a structural pass turns it into the model, and a
//! cross-reference pass checks the ids it mentions. Every problem is reported,
//! with line, column and path; this module never stops at the first one.
//!
//! Aliases are resolved to a copy of the anchored node: errors about the alias
//! itself point at the alias, errors inside it at the anchored text. Merge keys
//! (`<<`) and tags other than the core `!!str`, `!!seq` and `!!map` are refused.

use super::Config;

mod channels;
mod check;
mod people;
mod rules;
mod schedules;
mod services;
#[cfg(test)]
pub(super) mod tests;
mod tree;

use check::Checker;
use tree::read_tree;

/// One problem in a configuration file, located at the offending node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{line}:{column}: {path}: {message}")]
pub struct ConfigError {
    /// Where in the model, e.g. `escalation_policies[0].levels[1].escalate_after`;
    /// empty for problems with the document as a whole.
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// Reads a configuration, or every error in it, ordered by position.
pub fn load(text: &str) -> Result<Config, Vec<ConfigError>> {
    let tree = read_tree(text).map_err(|e| vec![e])?;
    let mut check = Checker {
        errors: tree.errors,
        ..Checker::default()
    };
    let config = match &tree.root {
        Some(root) => check.config(root),
        None => Config::default(),
    };
    check.cross_references();
    check.compile_rules(&config);
    if check.errors.is_empty() {
        Ok(config)
    } else {
        let mut errors = check.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        Err(errors)
    }
}

// ---------------------------------------------------------------------------
