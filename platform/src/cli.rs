//! The commands every service binary takes: `serve` (the default) and `migrate`.

use diesel_migrations::EmbeddedMigrations;

use crate::db::Database;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Serve,
    Migrate,
}

impl Command {
    /// The first argument of the process.
    pub fn from_args() -> anyhow::Result<Self> {
        Self::parse(std::env::args().nth(1).as_deref())
    }

    pub fn parse(argument: Option<&str>) -> anyhow::Result<Self> {
        match argument {
            None | Some("serve") => Ok(Command::Serve),
            Some("migrate") => Ok(Command::Migrate),
            Some(other) => anyhow::bail!("unknown command {other:?}: use `serve` or `migrate`"),
        }
    }
}

/// `migrate`: applies the pending migrations of the backend's set and says how many.
pub fn migrate(database: &Database, postgres: EmbeddedMigrations, sqlite: EmbeddedMigrations) -> anyhow::Result<()> {
    let applied = database.migrate(postgres, sqlite)?;
    tracing::info!(applied, "migrations applied");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(Command::parse(None).unwrap(), Command::Serve);
        assert_eq!(Command::parse(Some("migrate")).unwrap(), Command::Migrate);
        assert!(Command::parse(Some("drop")).is_err());
    }
}
