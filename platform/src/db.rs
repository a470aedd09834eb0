//! One connection type for both databases: PostgreSQL in production, SQLite for the embedded
//! default. Query code is written once against [`DbConnection`]; diesel's `MultiConnection`
//! dispatches to the backend. The pool picks the backend from the URL's scheme, never by
//! trying one and falling back to the other (a SQLite "open" of a Postgres URL would create a
//! file).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use secrecy::{ExposeSecret, SecretString};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    /// Which database this connection talks to, for the few statements that differ.
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgresql(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// The backend type of [`DbConnection`], for boxed query fragments.
pub type DbBackend = <DbConnection as Connection>::Backend;

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database URL: `postgres://…` / `postgresql://…`, or `sqlite://path` / a bare file path.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: SecretString,
    backend: Backend,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({:?}, [redacted])", self.backend)
    }
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        anyhow::ensure!(!raw.is_empty(), "the database URL is empty");
        let lower = raw.to_ascii_lowercase();
        let (backend, url) = if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            (Backend::Postgres, raw.to_owned())
        } else if let Some(path) = raw.strip_prefix("sqlite://") {
            (Backend::Sqlite, path.to_owned())
        } else if lower.contains("://") {
            anyhow::bail!("unsupported database URL scheme: use postgres://… or sqlite://path");
        } else {
            (Backend::Sqlite, raw.to_owned())
        };
        Ok(Self { url: SecretString::from(url), backend })
    }

    pub fn sqlite_file(path: &std::path::Path) -> Self {
        Self { url: SecretString::from(path.display().to_string()), backend: Backend::Sqlite }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn expose(&self) -> &str {
        self.url.expose_secret()
    }
}

diesel::define_sql_function! {
    /// Unicode lowercase, as Rust's `str::to_lowercase` (registered on SQLite connections).
    fn scim_fold(text: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// The SQL function that lowercases text as Rust does: `lower` on PostgreSQL (Unicode-aware),
/// `scim_fold` on SQLite.
pub fn fold_function(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "lower",
        Backend::Sqlite => "scim_fold",
    }
}

pub struct Manager {
    url: DatabaseUrl,
    statements: Arc<AtomicU64>,
    /// PostgreSQL's `statement_timeout` on every pooled connection (0: none).
    statement_timeout_ms: u64,
}

/// How long one SQL statement may run on PostgreSQL before the server cancels it, unless
/// configured otherwise (`DB_STATEMENT_TIMEOUT_MS`): no request, however hostile its filter,
/// holds a pooled connection that every tenant's token check needs for longer. Migrations run
/// without it.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts the statements a connection runs (see [`Database::statements`]).
fn counting(statements: &Arc<AtomicU64>) -> impl Instrumentation {
    let statements = statements.clone();
    move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { .. } = event {
            statements.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let url = self.url.expose();
        match self.url.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // Plans from the parameters and the tables' current size, never a generic plan
                // cached while a table was small: an initial sync grows `group_members` and
                // `scim_users` from empty faster than autovacuum analyzes them, and a cached
                // plan then kept scanning the whole table for a one-member PATCH (`auto_explain`:
                // a seq scan of group_members at 22,511 rows, 74.8 ms p50 at 100,000 members).
                conn.batch_execute(&format!(
                    "SET plan_cache_mode = force_custom_plan; SET statement_timeout = {}",
                    self.statement_timeout_ms
                ))
                .map_err(|e| r2d2::Error::ConnectionError(ConnectionError::BadConnection(e.to_string())))?;
                conn.set_instrumentation(counting(&self.statements));
                Ok(DbConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.set_instrumentation(counting(&self.statements));
                // WAL lets readers run beside the writer; busy_timeout waits instead of failing.
                // busy_timeout first, so that the WAL switch of concurrent opens waits its turn.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(|e| r2d2::Error::ConnectionError(ConnectionError::BadConnection(e.to_string())))?;
                // SQLite's lower() folds ASCII only: filters use this Unicode fold instead.
                scim_fold_utils::register_impl(&mut conn, |text: Option<String>| text.map(|t| t.to_lowercase()))
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

/// A pool, and for SQLite the lock that serializes writers: SQLite allows one writer, and a
/// transaction that reads then writes can fail outright (not wait) if another writer committed
/// in between. Taking this lock around every write transaction avoids that.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    backend: Backend,
    write_lock: Option<Arc<Mutex<()>>>,
    url: DatabaseUrl,
    statements: Arc<AtomicU64>,
    statement_timeout_ms: u64,
}

impl Database {
    pub fn connect(url: &DatabaseUrl, max_connections: u32) -> anyhow::Result<Self> {
        Self::connect_with(url, max_connections, DEFAULT_STATEMENT_TIMEOUT)
    }

    /// [`Database::connect`] with another statement timeout (`Duration::ZERO`: none).
    pub fn connect_with(url: &DatabaseUrl, max_connections: u32, statement_timeout: Duration) -> anyhow::Result<Self> {
        if url.backend == Backend::Sqlite
            && let Some(parent) = std::path::Path::new(url.expose()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the data directory {}", parent.display()))?;
        }
        let statements = Arc::new(AtomicU64::new(0));
        let statement_timeout_ms = u64::try_from(statement_timeout.as_millis()).unwrap_or(u64::MAX);
        let pool = r2d2::Pool::builder()
            .max_size(max_connections.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(Manager { url: url.clone(), statements: statements.clone(), statement_timeout_ms })
            .context("connecting to the database")?;
        let write_lock = (url.backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Self { pool, backend: url.backend, write_lock, url: url.clone(), statements, statement_timeout_ms })
    }

    /// How many SQL statements the pool's connections have run (transaction control
    /// included): a cheap counter, exported as a metric and used by tests to keep the
    /// statements per request from silently growing.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// A PostgreSQL connection of its own, outside the pool (for a session-level lock), with
    /// TCP keepalives and a user timeout so that a lost peer is noticed in about half a minute
    /// on either side. `None` on SQLite.
    pub fn dedicated_postgres(&self) -> anyhow::Result<Option<diesel::PgConnection>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let url = self.url.expose();
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{url}{separator}keepalives=1&keepalives_idle=10&keepalives_interval=5&keepalives_count=3&tcp_user_timeout=30000"
        );
        let conn = diesel::PgConnection::establish(&url).context("opening a dedicated database connection")?;
        Ok(Some(conn))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn get(&self) -> Result<PooledConnection, r2d2::PoolError> {
        self.pool.get()
    }

    /// Held for the duration of a write transaction (a no-op on PostgreSQL).
    pub fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        self.write_lock.as_ref().map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Runs `work` in a write transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn write<T, E>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<r2d2::PoolError>,
    {
        let span = self.span("write");
        let _entered = span.enter();
        let _writer = self.write_guard();
        let mut conn = self.get()?;
        (*conn).transaction(work)
    }

    /// Runs one statement (or a few that need no snapshot) on a pooled connection, outside a
    /// transaction: a transaction around a single statement is three more round trips.
    pub fn query<T, E>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<r2d2::PoolError>,
    {
        let mut conn = self.get()?;
        work(&mut conn)
    }

    /// A client span for one transaction (OpenTelemetry database conventions; no statement
    /// text: statements carry the resources' values).
    fn span(&self, kind: &'static str) -> tracing::Span {
        let system = match self.backend {
            Backend::Postgres => "postgresql",
            Backend::Sqlite => "sqlite",
        };
        tracing::info_span!(
            "db.transaction",
            otel.name = format!("{kind} transaction {system}"),
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = kind,
        )
    }

    /// The pool's connections: (open, idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// The most connections the pool opens.
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// Runs `work` in a read-only transaction that sees one snapshot (REPEATABLE READ on
    /// PostgreSQL; SQLite transactions are snapshots already), so that a count and the page it
    /// counts, or a group and its members, agree.
    pub fn read<T, E>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<r2d2::PoolError>,
    {
        let span = self.span("read");
        let _entered = span.enter();
        let mut conn = self.get()?;
        (*conn).transaction(|conn| {
            if matches!(conn, DbConnection::Postgresql(_)) {
                conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
            }
            work(conn)
        })
    }

    /// Runs the pending migrations of the backend's set.
    pub fn migrate(&self, postgres: EmbeddedMigrations, sqlite: EmbeddedMigrations) -> anyhow::Result<usize> {
        let mut conn = self.get().context("getting a connection to migrate")?;
        let applied = match &mut *conn {
            DbConnection::Postgresql(conn) => {
                // An index build on a large table may take longer than any request should:
                // no statement timeout while migrating; the pool's back after.
                conn.batch_execute("SET statement_timeout = 0").context("lifting the statement timeout")?;
                let applied = conn.run_pending_migrations(postgres).map(|v| v.len());
                conn.batch_execute(&format!("SET statement_timeout = {}", self.statement_timeout_ms))
                    .context("restoring the statement timeout")?;
                applied
            }
            DbConnection::Sqlite(conn) => conn.run_pending_migrations(sqlite).map(|v| v.len()),
        }
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        Ok(applied)
    }
}

impl Database {
    /// How many migrations of the backend's set are not applied yet.
    pub fn pending_migrations(
        &self,
        postgres: EmbeddedMigrations,
        sqlite: EmbeddedMigrations,
    ) -> anyhow::Result<usize> {
        let mut conn = self.get().context("getting a connection to check migrations")?;
        let pending = match &mut *conn {
            DbConnection::Postgresql(conn) => conn.pending_migrations(postgres).map(|v| v.len()),
            DbConnection::Sqlite(conn) => conn.pending_migrations(sqlite).map(|v| v.len()),
        }
        .map_err(|e| anyhow::anyhow!("checking migrations: {e}"))?;
        Ok(pending)
    }

    /// Refuses to serve on a schema older than the code: migrations are a release step.
    pub fn ensure_migrated(&self, postgres: EmbeddedMigrations, sqlite: EmbeddedMigrations) -> anyhow::Result<()> {
        let pending = self.pending_migrations(postgres, sqlite)?;
        anyhow::ensure!(
            pending == 0,
            "the database has {pending} pending migration(s): run the `migrate` command first"
        );
        Ok(())
    }
}

/// Runs a many-row insert on the connection's own backend: diesel's `MultiConnection` cannot
/// batch an insert, each backend can (one statement instead of one per row).
pub fn insert_rows<Q>(conn: &mut DbConnection, insert: Q) -> diesel::QueryResult<usize>
where
    Q: diesel::query_dsl::methods::ExecuteDsl<PgConnection> + diesel::query_dsl::methods::ExecuteDsl<SqliteConnection>,
{
    match conn {
        DbConnection::Postgresql(conn) => diesel::query_dsl::methods::ExecuteDsl::execute(insert, conn),
        DbConnection::Sqlite(conn) => diesel::query_dsl::methods::ExecuteDsl::execute(insert, conn),
    }
}

/// Microseconds since the Unix epoch: how timestamps are stored, the same on both backends.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_scheme_picks_the_backend() {
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(), Backend::Postgres);
        let sqlite = DatabaseUrl::parse("sqlite://./data/core.db").unwrap();
        assert_eq!(sqlite.backend(), Backend::Sqlite);
        assert_eq!(sqlite.expose(), "./data/core.db");
        assert_eq!(DatabaseUrl::parse("data/core.db").unwrap().backend(), Backend::Sqlite);
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("  ").is_err());
    }

    #[test]
    fn debug_never_shows_the_url() {
        let url = DatabaseUrl::parse("postgres://user:hunter2@h/db").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
