//! Persistence: each rollout's state and the decision journal, in SQLite.
//!
//! * Schema versions are tracked with `PRAGMA user_version`; each migration runs in one
//!   transaction together with the version bump, so a crash mid-migration leaves the old
//!   schema. A database written by a newer canaryd is refused, never downgraded.
//! * WAL mode with `synchronous = FULL`: every write is committed and synced to disk before
//!   the call returns. The runner journals an action's intent before sending it and its result
//!   after, so after a SIGKILL [`Store::pending_action`] shows the action that may or may not
//!   have been applied (to be verified against Azure, never blindly repeated).
//! * Times are RFC 3339 text in UTC (lexical order is time order); JSON is text.
//!
//! The API is synchronous (`rusqlite` behind a `Mutex`); async callers use
//! `spawn_blocking` or call it briefly inline.

mod alerts;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use alerts::{AlertCondition, AlertRecord};
pub use schema::SCHEMA_VERSION;

/// One rollout: which policy, which canary, and the state machine's serialized state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    pub id: String,
    pub policy_name: String,
    pub policy_hash: String,
    /// `EndpointRef`'s Display (`resource_group/workspace/endpoint`).
    pub endpoint: String,
    pub canary: String,
    /// False once the rollout reached a terminal phase.
    pub active: bool,
    pub state: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One decision: its inputs (window, query, raw counts, judge evidence), the action chosen
/// and, once known, the action's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Assigned by the store; 0 for an entry not yet appended.
    pub id: i64,
    pub rollout_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub policy_hash: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_end: Option<OffsetDateTime>,
    /// The exact query text (or URL) sent to the metrics source.
    pub query: Option<String>,
    pub raw_counts: serde_json::Value,
    pub evidence: serde_json::Value,
    pub decision: String,
    /// What the daemon is about to do (journaled before doing it).
    pub action: Option<serde_json::Value>,
    /// What happened (journaled after); `None` with an action means "may or may not have been
    /// applied".
    pub result: Option<serde_json::Value>,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("state database {path}: cannot create its directory: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state database {path}: {context}: {source}")]
    Sqlite {
        path: String,
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "state database {path} has schema version {found}, newer than this canaryd supports ({supported}); upgrade canaryd, or point state_db at another file"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("state database {path}: {what} in row {row} is unreadable: {problem}")]
    Corrupt {
        path: String,
        what: &'static str,
        row: String,
        problem: String,
    },
    #[error("state database {path}: no journal entry with id {id}")]
    NoSuchEntry { path: String, id: i64 },
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct Store {
    connection: Mutex<Connection>,
    /// For error messages.
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating it and its directory if needed) and migrates the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let name = path.display().to_string();
        let connection = Connection::open(path).map_err(sqlite(&name, "cannot open"))?;
        Self::init(connection, name, true)
    }

    /// A private in-memory database (tests, `canaryd demo`).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let name = ":memory:".to_string();
        let connection = Connection::open_in_memory().map_err(sqlite(&name, "cannot open"))?;
        Self::init(connection, name, false)
    }

    fn init(mut connection: Connection, path: String, wal: bool) -> Result<Store, StoreError> {
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(sqlite(&path, "cannot set the busy timeout"))?;
        if wal {
            let mode: String = connection
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(sqlite(&path, "cannot switch to WAL mode"))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path, journal_mode = %mode, "state database is not in WAL mode");
            }
        }
        // FULL: a commit is on disk when it returns, also in WAL mode.
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite(&path, "cannot set synchronous"))?;
        schema::migrate(&mut connection, &path)?;
        Ok(Store {
            connection: Mutex::new(connection),
            path,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves SQLite consistent (each statement
        // is atomic), so the connection stays usable.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.lock()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sqlite(&self.path, "cannot read the schema version"))
    }

    /// Inserts or replaces the rollout with this id.
    pub fn upsert_rollout(&self, record: &RolloutRecord) -> Result<(), StoreError> {
        let state = json_text("rollout state", &record.state)?;
        self.lock()
            .execute(
                "INSERT INTO rollouts (id, policy_name, policy_hash, endpoint, canary, active, state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET
                   policy_name = excluded.policy_name, policy_hash = excluded.policy_hash,
                   endpoint = excluded.endpoint, canary = excluded.canary, active = excluded.active,
                   state = excluded.state, updated_at = excluded.updated_at",
                params![
                    record.id,
                    record.policy_name,
                    record.policy_hash,
                    record.endpoint,
                    record.canary,
                    record.active,
                    state,
                    time_text(record.updated_at),
                ],
            )
            .map_err(sqlite(&self.path, "cannot save the rollout"))?;
        Ok(())
    }

    /// All rollouts (or only active ones), oldest update first.
    pub fn rollouts(&self, active_only: bool) -> Result<Vec<RolloutRecord>, StoreError> {
        let sql = if active_only {
            "SELECT id, policy_name, policy_hash, endpoint, canary, active, state, updated_at
             FROM rollouts WHERE active = 1 ORDER BY updated_at, id"
        } else {
            "SELECT id, policy_name, policy_hash, endpoint, canary, active, state, updated_at
             FROM rollouts ORDER BY updated_at, id"
        };
        self.list(sql, [])
    }

    /// The rollouts of one endpoint (its `EndpointRef` display form), oldest first; served by
    /// the endpoint index, so a tick never reads other endpoints' states.
    pub fn endpoint_rollouts(
        &self,
        endpoint: &str,
        active_only: bool,
    ) -> Result<Vec<RolloutRecord>, StoreError> {
        let sql = if active_only {
            "SELECT id, policy_name, policy_hash, endpoint, canary, active, state, updated_at
             FROM rollouts WHERE endpoint = ?1 AND active = 1 ORDER BY updated_at, id"
        } else {
            "SELECT id, policy_name, policy_hash, endpoint, canary, active, state, updated_at
             FROM rollouts WHERE endpoint = ?1 ORDER BY updated_at, id"
        };
        self.list(sql, [endpoint])
    }

    fn list(
        &self,
        sql: &str,
        parameters: impl rusqlite::Params,
    ) -> Result<Vec<RolloutRecord>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(sql)
            .map_err(sqlite(&self.path, "cannot list rollouts"))?;
        let raw = statement
            .query_map(parameters, RawRollout::from_row)
            .map_err(sqlite(&self.path, "cannot list rollouts"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqlite(&self.path, "cannot list rollouts"))?;
        raw.into_iter().map(|r| r.into_record(&self.path)).collect()
    }

    pub fn rollout(&self, id: &str) -> Result<Option<RolloutRecord>, StoreError> {
        let connection = self.lock();
        let raw = connection
            .query_row(
                "SELECT id, policy_name, policy_hash, endpoint, canary, active, state, updated_at
                 FROM rollouts WHERE id = ?1",
                params![id],
                RawRollout::from_row,
            )
            .optional()
            .map_err(sqlite(&self.path, "cannot read the rollout"))?;
        raw.map(|r| r.into_record(&self.path)).transpose()
    }

    /// Appends an entry (its `id` is ignored) and returns the new id. Durable on return.
    pub fn append_journal(&self, entry: &JournalEntry) -> Result<i64, StoreError> {
        let raw_counts = json_text("raw counts", &entry.raw_counts)?;
        let evidence = json_text("evidence", &entry.evidence)?;
        let action = entry
            .action
            .as_ref()
            .map(|a| json_text("action", a))
            .transpose()?;
        let result = entry
            .result
            .as_ref()
            .map(|r| json_text("result", r))
            .transpose()?;
        let connection = self.lock();
        connection
            .execute(
                "INSERT INTO journal (rollout_id, at, policy_hash, window_start, window_end, query,
                                      raw_counts, evidence, decision, action, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    entry.rollout_id,
                    time_text(entry.at),
                    entry.policy_hash,
                    entry.window_start.map(time_text),
                    entry.window_end.map(time_text),
                    entry.query,
                    raw_counts,
                    evidence,
                    entry.decision,
                    action,
                    result,
                ],
            )
            .map_err(sqlite(&self.path, "cannot append to the journal"))?;
        Ok(connection.last_insert_rowid())
    }

    /// Records the result of the entry's action (replacing any earlier result).
    pub fn set_journal_result(
        &self,
        id: i64,
        result: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let text = json_text("result", result)?;
        let changed = self
            .lock()
            .execute(
                "UPDATE journal SET result = ?1 WHERE id = ?2",
                params![text, id],
            )
            .map_err(sqlite(&self.path, "cannot record the action's result"))?;
        if changed == 0 {
            return Err(StoreError::NoSuchEntry {
                path: self.path.clone(),
                id,
            });
        }
        Ok(())
    }

    /// The rollout's journal, oldest first.
    pub fn journal(&self, rollout_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal WHERE rollout_id = ?1 ORDER BY id"
            ))
            .map_err(sqlite(&self.path, "cannot read the journal"))?;
        let raw = statement
            .query_map(params![rollout_id], RawJournal::from_row)
            .map_err(sqlite(&self.path, "cannot read the journal"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqlite(&self.path, "cannot read the journal"))?;
        raw.into_iter().map(|r| r.into_entry(&self.path)).collect()
    }

    /// The latest entry with an action and no result: an action that may or may not have been
    /// applied. `None` when the rollout's last action (if any) has its result.
    ///
    /// Only the latest action counts: an older action without a result followed by a newer
    /// action means the daemon already moved on from it.
    pub fn pending_action(&self, rollout_id: &str) -> Result<Option<JournalEntry>, StoreError> {
        let connection = self.lock();
        let raw = connection
            .query_row(
                &format!(
                    "SELECT {JOURNAL_COLUMNS} FROM journal
                     WHERE rollout_id = ?1 AND action IS NOT NULL
                     ORDER BY id DESC LIMIT 1"
                ),
                params![rollout_id],
                RawJournal::from_row,
            )
            .optional()
            .map_err(sqlite(&self.path, "cannot read the journal"))?;
        match raw {
            Some(raw) if raw.result.is_none() => raw.into_entry(&self.path).map(Some),
            _ => Ok(None),
        }
    }
}

impl Store {
    /// The rollout's latest journal entry, if any.
    pub fn latest_journal(&self, rollout_id: &str) -> Result<Option<JournalEntry>, StoreError> {
        self.latest_journal_where(rollout_id, "")
    }

    /// The rollout's latest journal entry that carries judge evidence, if any.
    pub fn last_evidence(&self, rollout_id: &str) -> Result<Option<JournalEntry>, StoreError> {
        self.latest_journal_where(rollout_id, "AND evidence != 'null'")
    }

    /// The rollout's latest journal entry meeting `condition` (SQL, a constant of this module).
    fn latest_journal_where(
        &self,
        rollout_id: &str,
        condition: &str,
    ) -> Result<Option<JournalEntry>, StoreError> {
        let connection = self.lock();
        let raw = connection
            .query_row(
                &format!(
                    "SELECT {JOURNAL_COLUMNS} FROM journal WHERE rollout_id = ?1 {condition}
                     ORDER BY id DESC LIMIT 1"
                ),
                params![rollout_id],
                RawJournal::from_row,
            )
            .optional()
            .map_err(sqlite(&self.path, "cannot read the journal"))?;
        drop(connection);
        raw.map(|r| r.into_entry(&self.path)).transpose()
    }
}

const JOURNAL_COLUMNS: &str = "id, rollout_id, at, policy_hash, window_start, window_end, query, raw_counts, evidence, decision, action, result";

fn sqlite(path: &str, context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + use<> {
    let path = path.to_string();
    move |source| StoreError::Sqlite {
        path: path.clone(),
        context,
        source,
    }
}

fn json_text(what: &'static str, value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Serialize { what, source })
}

fn time_text(at: OffsetDateTime) -> String {
    // Rfc3339 formatting fails only for years outside 0..=9999; clamp rather than lose the row.
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "9999-12-31T23:59:59Z".to_string())
}

fn parse_time(
    path: &str,
    what: &'static str,
    row: &str,
    text: &str,
) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|error| StoreError::Corrupt {
        path: path.to_string(),
        what,
        row: row.to_string(),
        problem: error.to_string(),
    })
}

fn parse_json(
    path: &str,
    what: &'static str,
    row: &str,
    text: &str,
) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        path: path.to_string(),
        what,
        row: row.to_string(),
        problem: error.to_string(),
    })
}

struct RawRollout {
    id: String,
    policy_name: String,
    policy_hash: String,
    endpoint: String,
    canary: String,
    active: bool,
    state: String,
    updated_at: String,
}

impl RawRollout {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRollout> {
        Ok(RawRollout {
            id: row.get(0)?,
            policy_name: row.get(1)?,
            policy_hash: row.get(2)?,
            endpoint: row.get(3)?,
            canary: row.get(4)?,
            active: row.get(5)?,
            state: row.get(6)?,
            updated_at: row.get(7)?,
        })
    }

    fn into_record(self, path: &str) -> Result<RolloutRecord, StoreError> {
        let state = parse_json(path, "rollouts.state", &self.id, &self.state)?;
        let updated_at = parse_time(path, "rollouts.updated_at", &self.id, &self.updated_at)?;
        Ok(RolloutRecord {
            id: self.id,
            policy_name: self.policy_name,
            policy_hash: self.policy_hash,
            endpoint: self.endpoint,
            canary: self.canary,
            active: self.active,
            state,
            updated_at,
        })
    }
}

struct RawJournal {
    id: i64,
    rollout_id: String,
    at: String,
    policy_hash: String,
    window_start: Option<String>,
    window_end: Option<String>,
    query: Option<String>,
    raw_counts: String,
    evidence: String,
    decision: String,
    action: Option<String>,
    result: Option<String>,
}

impl RawJournal {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawJournal> {
        Ok(RawJournal {
            id: row.get(0)?,
            rollout_id: row.get(1)?,
            at: row.get(2)?,
            policy_hash: row.get(3)?,
            window_start: row.get(4)?,
            window_end: row.get(5)?,
            query: row.get(6)?,
            raw_counts: row.get(7)?,
            evidence: row.get(8)?,
            decision: row.get(9)?,
            action: row.get(10)?,
            result: row.get(11)?,
        })
    }

    fn into_entry(self, path: &str) -> Result<JournalEntry, StoreError> {
        let row = self.id.to_string();
        let time = |what, text: &str| parse_time(path, what, &row, text);
        let json = |what, text: &str| parse_json(path, what, &row, text);
        Ok(JournalEntry {
            id: self.id,
            at: time("journal.at", &self.at)?,
            window_start: self
                .window_start
                .as_deref()
                .map(|t| time("journal.window_start", t))
                .transpose()?,
            window_end: self
                .window_end
                .as_deref()
                .map(|t| time("journal.window_end", t))
                .transpose()?,
            raw_counts: json("journal.raw_counts", &self.raw_counts)?,
            evidence: json("journal.evidence", &self.evidence)?,
            action: self
                .action
                .as_deref()
                .map(|t| json("journal.action", t))
                .transpose()?,
            result: self
                .result
                .as_deref()
                .map(|t| json("journal.result", t))
                .transpose()?,
            rollout_id: self.rollout_id,
            policy_hash: self.policy_hash,
            query: self.query,
            decision: self.decision,
        })
    }
}
