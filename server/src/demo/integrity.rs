//! The demo's integrity channel: with `TARMIM_DEMO` on and no `[integrity]` category
//! configured, the channel is switched on with two demo categories whose only
//! investigator is a demo key kept in the data folder (`demo-investigator.key`), so a
//! newcomer can make a report from the README's run command and read it with the
//! investigators' CLI (the commands are printed at start-up).
//!
//! Why a private key on the server at all: in production the server holds only public
//! keys and the channel stays off until an operator configures it (docs/integrity.md).
//! The demo key is named as a demo everywhere, is created only by `serve` with the demo
//! on, and is never read when `TARMIM_DEMO` is off or when real categories are set, so a
//! city that configures the channel never reports to it.

use crate::base::config::Config;
use crate::base::config::integrity::{Category, InvestigatorKey};
use crate::domain::integrity::investigator::{self, InvestigatorError};
use std::path::{Path, PathBuf};

/// The demo investigator's private key, in the data folder.
pub const KEY_FILE: &str = "demo-investigator.key";

/// The demo categories: (code, name shown when the page has no translation).
pub const CATEGORIES: &[(&str, &str)] = &[
    ("demo-bribery", "Bribery (demo)"),
    ("demo-procurement", "Contracts and procurement (demo)"),
];

/// The demo channel, once switched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoIntegrity {
    /// The demo investigator's private key file.
    pub identity: PathBuf,
    /// Whether this start created it.
    pub created: bool,
}

/// Switches the demo channel on in `config` when the demo is on and no category is
/// configured. The key is created only when `may_create` (the server starting); other
/// commands use it if it is there, so `integrity reply` sees the same categories as the
/// server. `None`: the channel is left as configured.
pub fn enable(
    config: &mut Config,
    may_create: bool,
    now: i64,
) -> Result<Option<DemoIntegrity>, InvestigatorError> {
    if !config.demo || !config.integrity.categories.is_empty() {
        return Ok(None);
    }
    let identity = config.data_dir.join(KEY_FILE);
    let (public, created) = if identity.exists() {
        (public_key(&identity)?, false)
    } else if may_create {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| InvestigatorError::Io {
            path: config.data_dir.clone(),
            why: e.to_string(),
        })?;
        (investigator::keygen(&identity, now)?, true)
    } else {
        return Ok(None);
    };
    let key = InvestigatorKey::parse(&public).map_err(|why| InvestigatorError::Identity {
        path: identity.clone(),
        why,
    })?;
    config.integrity.categories = CATEGORIES
        .iter()
        .map(|(code, name)| Category {
            code: (*code).to_owned(),
            name: (*name).to_owned(),
            investigators: vec![key.clone()],
        })
        .collect();
    Ok(Some(DemoIntegrity { identity, created }))
}

fn public_key(identity: &Path) -> Result<String, InvestigatorError> {
    Ok(investigator::load_identity(identity)?
        .to_public()
        .to_string())
}

/// The investigators' commands for the demo key, ready to paste: list, read one, reply.
/// `exe` is how this binary was started; the data folder is passed explicitly so they
/// work from any directory. On PostgreSQL the database URL is left to the shell
/// (`"$DATABASE_URL"`): it may hold a password, which is never logged.
pub fn commands(exe: &str, config: &Config, identity: &Path) -> [String; 3] {
    let database = match config.database_url {
        Some(_) => "DATABASE_URL=\"$DATABASE_URL\" ",
        None => "",
    };
    let prefix = format!(
        "{database}TARMIM_DATA_DIR={} {}",
        shell_word(&config.data_dir.display().to_string()),
        shell_word(exe)
    );
    let id = shell_word(&identity.display().to_string());
    [
        format!("{prefix} integrity list --identity {id}"),
        format!("{prefix} integrity read <CASE> --identity {id}"),
        format!("echo 'your reply' | {prefix} integrity reply <CASE> --identity {id}"),
    ]
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, demo: bool) -> Config {
        Config {
            data_dir: dir.to_owned(),
            demo,
            ..Config::default()
        }
    }

    #[test]
    fn the_demo_gets_two_categories_and_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), true);
        let on = enable(&mut c, true, 1).unwrap().unwrap();
        assert!(on.created);
        assert_eq!(on.identity, dir.path().join(KEY_FILE));
        let codes: Vec<_> = c.integrity.categories.iter().map(|c| &c.code).collect();
        assert_eq!(codes, ["demo-bribery", "demo-procurement"]);
        c.integrity.check().unwrap();

        // The next start reuses the key: the same investigator.
        let mut again = config(dir.path(), true);
        let reused = enable(&mut again, true, 2).unwrap().unwrap();
        assert!(!reused.created);
        assert_eq!(again.integrity.categories, c.integrity.categories);
    }

    #[test]
    fn nothing_without_the_demo_or_with_real_categories() {
        let dir = tempfile::tempdir().unwrap();
        let mut off = config(dir.path(), false);
        assert_eq!(enable(&mut off, true, 1).unwrap(), None);
        assert!(off.integrity.categories.is_empty());
        assert!(!dir.path().join(KEY_FILE).exists());

        let mut real = config(dir.path(), true);
        let key = age::x25519::Identity::generate().to_public().to_string();
        real.integrity.categories = vec![Category {
            code: "bribery".into(),
            name: "Bribery".into(),
            investigators: vec![InvestigatorKey::parse(&key).unwrap()],
        }];
        assert_eq!(enable(&mut real, true, 1).unwrap(), None);
        assert_eq!(real.integrity.categories.len(), 1);
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn only_the_server_creates_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), true);
        assert_eq!(enable(&mut c, false, 1).unwrap(), None);
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn commands_are_quoted_for_the_shell() {
        assert_eq!(shell_word("./data"), "./data");
        assert_eq!(shell_word("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        let mut c = config(Path::new("./data"), true);
        let key = Path::new("./data/demo-investigator.key");
        let [list, read, reply] = commands("target/debug/tarmim-server", &c, key);
        assert_eq!(
            list,
            "TARMIM_DATA_DIR=./data target/debug/tarmim-server integrity list --identity ./data/demo-investigator.key"
        );
        assert!(read.contains("integrity read <CASE>"));
        assert!(reply.starts_with("echo 'your reply' | TARMIM_DATA_DIR=./data"));

        // The URL's password stays out of the log.
        c.database_url = Some("postgres://u:secret@db/tarmim".into());
        let [list, ..] = commands("tarmim-server", &c, key);
        assert!(list.starts_with("DATABASE_URL=\"$DATABASE_URL\" TARMIM_DATA_DIR=./data"));
        assert!(!list.contains("secret"));
    }
}
