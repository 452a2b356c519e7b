//! Schema migrations, tracked with `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version i to i + 1. Never edit a released migration;
//! append a new one.

use rusqlite::Connection;

use super::{StoreError, sqlite};

const MIGRATIONS: &[&str] = &[
    // v1: rollouts and the decision journal.
    "CREATE TABLE rollouts (
        id          TEXT PRIMARY KEY NOT NULL,
        policy_name TEXT NOT NULL,
        policy_hash TEXT NOT NULL,
        endpoint    TEXT NOT NULL,
        canary      TEXT NOT NULL,
        active      INTEGER NOT NULL,
        state       TEXT NOT NULL,   -- JSON
        updated_at  TEXT NOT NULL    -- RFC 3339, UTC
    );
    CREATE INDEX rollouts_active ON rollouts (active, updated_at);
    CREATE INDEX rollouts_endpoint ON rollouts (endpoint);
    -- No foreign key to rollouts: the runner may journal before the first upsert.
    CREATE TABLE journal (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        rollout_id   TEXT NOT NULL,
        at           TEXT NOT NULL,  -- RFC 3339, UTC
        policy_hash  TEXT NOT NULL,
        window_start TEXT,
        window_end   TEXT,
        query        TEXT,
        raw_counts   TEXT NOT NULL,  -- JSON
        evidence     TEXT NOT NULL,  -- JSON
        decision     TEXT NOT NULL,
        action       TEXT,           -- JSON; journaled before the action is sent
        result       TEXT            -- JSON; journaled after
    );
    CREATE INDEX journal_rollout ON journal (rollout_id, id);
    CREATE INDEX journal_actions ON journal (rollout_id, id) WHERE action IS NOT NULL;",
    // v2: Azure Monitor alerts received, one row per (alert, condition): a retried webhook hits
    // the primary key and changes nothing; an alert fires until its Resolved row arrives.
    "CREATE TABLE alerts (
        alert_id          TEXT NOT NULL,
        monitor_condition TEXT NOT NULL,  -- 'fired' or 'resolved'
        received_at       TEXT NOT NULL,  -- RFC 3339, UTC
        alert_rule        TEXT NOT NULL,
        severity          TEXT NOT NULL,
        target_ids        TEXT NOT NULL,  -- JSON array, lower-cased resource ids
        deployments       TEXT NOT NULL,  -- JSON array, lower-cased deployment names
        summary           TEXT NOT NULL,
        payload           TEXT NOT NULL,  -- JSON, as received
        PRIMARY KEY (alert_id, monitor_condition)
    );
    CREATE INDEX alerts_condition ON alerts (monitor_condition, received_at);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(connection: &mut Connection, path: &str) -> Result<(), StoreError> {
    let found: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(sqlite(path, "cannot read the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    // One transaction for all pending migrations and the version bump (user_version is part
    // of the transaction): a crash leaves the previous schema intact.
    let transaction = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .map_err(sqlite(path, "cannot start the migration"))?;
    // Another process may have migrated between the read above and the lock.
    let locked: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(sqlite(path, "cannot read the schema version"))?;
    if locked > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_string(),
            found: locked,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(locked.max(0) as usize) {
        transaction
            .execute_batch(sql)
            .map_err(sqlite(path, "migration failed"))?;
        tracing::info!(path = %path, version = index + 1, "state database migrated");
    }
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sqlite(path, "cannot record the schema version"))?;
    transaction
        .commit()
        .map_err(sqlite(path, "cannot commit the migration"))?;
    Ok(())
}
