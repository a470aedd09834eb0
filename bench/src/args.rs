//! `--key value` options (no external parser: the client has few knobs).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

pub struct Args {
    values: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
}

impl Args {
    pub fn parse(argv: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let mut argv = argv.peekable();
        while let Some(arg) = argv.next() {
            let Some(key) = arg.strip_prefix("--") else {
                anyhow::bail!("unexpected argument {arg:?}: options are --key value");
            };
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => {
                    let value = argv.next().ok_or_else(|| anyhow::anyhow!("--{key} needs a value"))?;
                    (key.to_owned(), value)
                }
            };
            values.insert(key, value);
        }
        Ok(Self { values, used: RefCell::new(BTreeSet::new()) })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.used.borrow_mut().insert(key.to_owned());
        self.values.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &str) -> anyhow::Result<&str> {
        self.get(key).ok_or_else(|| anyhow::anyhow!("--{key} is required"))
    }

    pub fn u64_or(&self, key: &str, default: u64) -> anyhow::Result<u64> {
        self.get(key).map_or(Ok(default), |v| v.parse().map_err(|e| anyhow::anyhow!("--{key} {v:?}: {e}")))
    }

    pub fn opt_u64(&self, key: &str) -> anyhow::Result<Option<u64>> {
        self.get(key).map(|v| v.parse().map_err(|e| anyhow::anyhow!("--{key} {v:?}: {e}"))).transpose()
    }

    pub fn f64_or(&self, key: &str, default: f64) -> anyhow::Result<f64> {
        self.get(key).map_or(Ok(default), |v| v.parse().map_err(|e| anyhow::anyhow!("--{key} {v:?}: {e}")))
    }

    pub fn opt_f64(&self, key: &str) -> anyhow::Result<Option<f64>> {
        self.get(key).map(|v| v.parse().map_err(|e| anyhow::anyhow!("--{key} {v:?}: {e}"))).transpose()
    }

    /// A misspelt option must not be silently ignored.
    pub fn check_all_used(&self) -> anyhow::Result<()> {
        let used = self.used.borrow();
        let unknown: Vec<&String> = self.values.keys().filter(|k| !used.contains(*k)).collect();
        anyhow::ensure!(unknown.is_empty(), "unknown options for this subcommand: {unknown:?}");
        Ok(())
    }
}
