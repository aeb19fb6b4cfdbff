//! The embedded store: the graph in one SQLite file, with the same
//! semantics as the Bolt sink, for embedded mode (`infragraph up`) and
//! export.
//!
//! # Layout
//! - this file: opening the database and its schema.
//! - [`write`]: the [`Sink`](crate::Sink) implementation.
//! - [`read`]: counts, nodes by label, neighbours, search and iteration.
//!
//! Assertions live in their own tables (`node_assertions`,
//! `edge_assertions`) indexed by scope, so cleanup reads only what the
//! scope asserted. Deleting a node cascades to its relationships and their
//! assertions, as `DETACH DELETE` does.

mod read;
mod write;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use read::{Neighbour, StoredEdge, StoredNode};

use crate::error::SinkError;
use crate::plan::{FIRSTSEEN, LASTUPDATED};

/// File name of the store inside `--data-dir`.
pub const FILE_NAME: &str = "graph.sqlite3";

/// The tables, created if missing. `firstseen` and `lastupdated` are named
/// as the properties are on Neo4j; `props_at` keeps the name it has here
/// (Neo4j's `_props_at`): renaming a column would break existing stores.
fn schema() -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS nodes (
    nid INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    id TEXT NOT NULL,
    {FIRSTSEEN} INTEGER NOT NULL,
    {LASTUPDATED} INTEGER NOT NULL,
    props_at INTEGER,
    props TEXT NOT NULL DEFAULT '{{}}',
    UNIQUE (label, id)
);
CREATE INDEX IF NOT EXISTS nodes_by_id ON nodes (id);
CREATE TABLE IF NOT EXISTS edges (
    eid INTEGER PRIMARY KEY,
    rel TEXT NOT NULL,
    src INTEGER NOT NULL REFERENCES nodes (nid) ON DELETE CASCADE,
    dst INTEGER NOT NULL REFERENCES nodes (nid) ON DELETE CASCADE,
    {FIRSTSEEN} INTEGER NOT NULL,
    {LASTUPDATED} INTEGER NOT NULL,
    props_at INTEGER,
    props TEXT NOT NULL DEFAULT '{{}}',
    UNIQUE (src, rel, dst)
);
CREATE INDEX IF NOT EXISTS edges_by_dst ON edges (dst);
CREATE TABLE IF NOT EXISTS node_assertions (
    nid INTEGER NOT NULL REFERENCES nodes (nid) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    PRIMARY KEY (nid, scope)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS node_assertions_by_scope ON node_assertions (scope, epoch);
CREATE TABLE IF NOT EXISTS edge_assertions (
    eid INTEGER NOT NULL REFERENCES edges (eid) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    PRIMARY KEY (eid, scope)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edge_assertions_by_scope ON edge_assertions (scope, epoch);
CREATE TABLE IF NOT EXISTS syncs (
    scope TEXT PRIMARY KEY,
    last_completed INTEGER,
    last_completed_kind TEXT,
    last_reconciled INTEGER,
    last_failed INTEGER,
    last_failed_reason TEXT
);
"
    )
}

/// The embedded graph store. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, SinkError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            SinkError::Config(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(FILE_NAME);
        let conn = Connection::open(&path)
            .map_err(|e| SinkError::Config(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// A store that lives as long as this value (tests, throwaway runs).
    pub fn in_memory() -> Result<Self, SinkError> {
        Self::init(Connection::open_in_memory().map_err(config)?)
    }

    fn init(conn: Connection) -> Result<Self, SinkError> {
        // WAL lets readers (export, the status line) run beside the writer;
        // NORMAL sync is durable across process crashes, which is what
        // at-least-once replay needs.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(config)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(config)?;
        conn.execute_batch(&schema()).map_err(config)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the store's connection, for the read side
    /// (`infragraph-graph-reader`), which owns its queries. `f` must only
    /// read: every write goes through the [`Sink`](crate::Sink).
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock left no transaction open (rusqlite
        // rolls back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn config(e: rusqlite::Error) -> SinkError {
    SinkError::Config(e.to_string())
}

/// Busy or locked database files clear up; anything else will recur.
fn classify(e: rusqlite::Error) -> SinkError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => SinkError::Transient(e.to_string()),
        _ => SinkError::Rejected(e.to_string()),
    }
}
