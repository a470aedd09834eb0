//! One replica at a time: the background work that must not run twice at once (the outbox
//! relay, the webhook dispatcher) runs on the replica that holds a PostgreSQL session advisory
//! lock, on a connection it keeps for that; the others stand by and try again, taking over when
//! the holder's connection ends (shutdown, crash, lost network). SQLite has one process: it
//! always leads.

use crate::store::Store;

pub struct Leadership {
    store: Store,
    key: i64,
    what: &'static str,
    /// The connection holding the lock (PostgreSQL): one of its own, not the pool's, so that a
    /// broken one is closed (releasing the lock) rather than reused.
    held: std::sync::Mutex<Option<diesel::PgConnection>>,
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

impl Leadership {
    /// `key`: the advisory lock's key, any constant shared by all replicas; `what` names the
    /// work in the logs.
    pub fn new(store: Store, key: i64, what: &'static str) -> Self {
        Self { store, key, what, held: std::sync::Mutex::new(None) }
    }

    /// Whether this replica leads: it holds (or now takes) the lock, on a connection that still
    /// answers.
    fn lead(&self) -> anyhow::Result<bool> {
        use diesel::RunQueryDsl;
        if self.store.database().backend() != platform::db::Backend::Postgres {
            return Ok(true);
        }
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(conn) = held.as_mut() {
            if diesel::sql_query("SELECT TRUE AS locked").get_result::<Locked>(conn).is_ok() {
                return Ok(true);
            }
            tracing::warn!(what = self.what, "the lock connection was lost; trying to lead again");
            // Dropping the connection closes it: the server releases the lock with the session.
            *held = None;
        }
        let Some(mut conn) = self.store.database().dedicated_postgres()? else { return Ok(true) };
        let locked = diesel::sql_query(format!("SELECT pg_try_advisory_lock({}) AS locked", self.key))
            .get_result::<Locked>(&mut conn)?
            .locked;
        if locked {
            tracing::info!(what = self.what, "this replica leads");
            *held = Some(conn);
        }
        Ok(locked)
    }

    pub async fn is_leader(&self) -> bool {
        match tokio::task::block_in_place(|| self.lead()) {
            Ok(leading) => leading,
            Err(error) => {
                tracing::warn!(what = self.what, error = %error, "could not check the leader's lock");
                false
            }
        }
    }

    /// Gives the lead up at once (closing the lock connection releases the lock).
    pub fn release(&self) {
        drop(self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
    }
}
