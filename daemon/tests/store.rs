//! SQLite store: migrations, reopening, the journal, pending actions, newer schemas.

use std::path::PathBuf;

use canaryd::store::{JournalEntry, RolloutRecord, SCHEMA_VERSION, Store, StoreError};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("canaryd-store-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn record(id: &str, active: bool, at: OffsetDateTime) -> RolloutRecord {
    RolloutRecord {
        id: id.into(),
        policy_name: "default".into(),
        policy_hash: "ab".repeat(32),
        endpoint: "rg/ws/my-ep".into(),
        canary: "green".into(),
        active,
        state: json!({"phase": {"Step": 2}, "canary": "green", "requests": 1234}),
        updated_at: at,
    }
}

fn entry(rollout: &str, decision: &str, action: Option<serde_json::Value>) -> JournalEntry {
    JournalEntry {
        id: 0,
        rollout_id: rollout.into(),
        at: datetime!(2026-01-01 10:05:00.123456789 UTC),
        policy_hash: "cd".repeat(32),
        window_start: Some(datetime!(2026-01-01 10:00:00 UTC)),
        window_end: Some(datetime!(2026-01-01 10:01:00 +02:00)),
        query: Some("AmlOnlineEndpointTrafficLog | take 1".into()),
        raw_counts: json!({"baseline": {"n": 950}, "canary": {"n": 50, "model_errors": 1}}),
        evidence: json!({"overall": "inconclusive", "checks": [{"name": "latency", "z": 0.3}]}),
        decision: decision.into(),
        action,
        result: None,
    }
}

#[test]
fn migrates_from_empty_and_reopens_with_the_data() {
    let dir = TempDir::new("reopen");
    let path = dir.0.join("nested").join("canaryd.db");
    {
        let store = Store::open(&path).expect("creates the file and its directory");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        const { assert!(SCHEMA_VERSION >= 1) };
        store
            .upsert_rollout(&record("r1", true, datetime!(2026-01-01 10:00 UTC)))
            .expect("upsert");
        store
            .append_journal(&entry("r1", "start", None))
            .expect("journal");
    }
    let store = Store::open(&path).expect("reopens");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    let rollout = store.rollout("r1").expect("read").expect("kept");
    assert_eq!(rollout, record("r1", true, datetime!(2026-01-01 10:00 UTC)));
    assert_eq!(store.journal("r1").expect("journal").len(), 1);
    assert!(store.rollout("nope").expect("read").is_none());
}

#[test]
fn upsert_replaces_and_active_only_filters() {
    let store = Store::open_in_memory().expect("store");
    store
        .upsert_rollout(&record("a", true, datetime!(2026-01-01 10:00 UTC)))
        .expect("a");
    store
        .upsert_rollout(&record("b", true, datetime!(2026-01-01 09:00 UTC)))
        .expect("b");
    let mut finished = record("a", false, datetime!(2026-01-01 11:00 UTC));
    finished.state = json!({"phase": "Promoted"});
    store.upsert_rollout(&finished).expect("update a");

    let all = store.rollouts(false).expect("all");
    assert_eq!(all.len(), 2);
    // Oldest update first.
    assert_eq!(all[0].id, "b");
    assert_eq!(all[1], finished);
    let active = store.rollouts(true).expect("active");
    assert_eq!(
        active.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
}

#[test]
fn journal_round_trips_every_field() {
    let store = Store::open_in_memory().expect("store");
    let mut first = entry("r1", "hold", None);
    first.window_start = None;
    first.window_end = None;
    first.query = None;
    let id1 = store.append_journal(&first).expect("append");
    let second = entry(
        "r1",
        "advance",
        Some(json!({"set_split": {"traffic": {"blue": 90, "green": 10}}})),
    );
    let id2 = store.append_journal(&second).expect("append");
    store
        .append_journal(&entry("other", "start", None))
        .expect("other rollout");
    assert!(id2 > id1);

    let journal = store.journal("r1").expect("journal");
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0], JournalEntry { id: id1, ..first });
    // Times come back in UTC, the same instant (and nanoseconds kept).
    let mut expected = JournalEntry { id: id2, ..second };
    expected.window_end = Some(datetime!(2026-01-01 08:01:00 UTC));
    assert_eq!(journal[1], expected);
    assert_eq!(journal[1].at.nanosecond(), 123_456_789);

    store
        .set_journal_result(id2, &json!({"applied": true}))
        .expect("result");
    let journal = store.journal("r1").expect("journal");
    assert_eq!(journal[1].result, Some(json!({"applied": true})));
    assert!(matches!(
        store.set_journal_result(9999, &json!({})),
        Err(StoreError::NoSuchEntry { id: 9999, .. })
    ));
}

#[test]
fn pending_action_is_the_latest_action_without_a_result() {
    let store = Store::open_in_memory().expect("store");
    assert!(store.pending_action("r1").expect("query").is_none());
    store
        .append_journal(&entry("r1", "hold", None))
        .expect("no action");
    assert!(store.pending_action("r1").expect("query").is_none());

    let intent = store
        .append_journal(&entry("r1", "advance", Some(json!({"to": 10}))))
        .expect("intent");
    // A later entry without an action does not hide the pending one.
    store
        .append_journal(&entry("r1", "hold", None))
        .expect("hold");
    let pending = store.pending_action("r1").expect("query").expect("pending");
    assert_eq!(pending.id, intent);
    assert_eq!(pending.action, Some(json!({"to": 10})));
    assert!(store.pending_action("other").expect("query").is_none());

    store
        .set_journal_result(intent, &json!({"applied": {"green": 10}}))
        .expect("result");
    assert!(store.pending_action("r1").expect("query").is_none());

    let next = store
        .append_journal(&entry("r1", "advance", Some(json!({"to": 25}))))
        .expect("next intent");
    assert_eq!(
        store.pending_action("r1").expect("query").map(|e| e.id),
        Some(next)
    );
}

#[test]
fn journal_survives_an_unclean_close() {
    // Each append is committed when it returns: a second connection (as after a SIGKILL and
    // restart) sees it while the first is still open.
    let dir = TempDir::new("durable");
    let path = dir.0.join("canaryd.db");
    let first = Store::open(&path).expect("open");
    let id = first
        .append_journal(&entry("r1", "advance", Some(json!({"to": 10}))))
        .expect("intent");
    let second = Store::open(&path).expect("second connection");
    assert_eq!(
        second.pending_action("r1").expect("query").map(|e| e.id),
        Some(id)
    );
    std::mem::forget(first); // no orderly close
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    let path = dir.0.join("canaryd.db");
    drop(Store::open(&path).expect("create"));
    {
        let connection = rusqlite::Connection::open(&path).expect("raw open");
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
    }
    let error = Store::open(&path).expect_err("newer schema");
    assert!(
        matches!(error, StoreError::NewerSchema { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{error}"
    );
    assert!(error.to_string().contains("upgrade canaryd"), "{error}");
}

#[test]
fn a_failed_migration_leaves_the_database_untouched() {
    // A table named like v1's makes the v1 migration fail halfway; the transaction must leave
    // version 0 and no partial schema behind.
    let dir = TempDir::new("failed-migration");
    let path = dir.0.join("canaryd.db");
    {
        let connection = rusqlite::Connection::open(&path).expect("raw open");
        connection
            .execute_batch("CREATE TABLE journal (x INTEGER);")
            .expect("conflicting table");
    }
    let error = Store::open(&path).expect_err("migration fails");
    assert!(error.to_string().contains("migration"), "{error}");
    let connection = rusqlite::Connection::open(&path).expect("raw open");
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, 0);
    let rollouts_tables: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'rollouts'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(rollouts_tables, 0, "v1's first table was rolled back");
}

#[test]
fn endpoint_rollouts_see_only_their_endpoint() {
    let store = Store::open_in_memory().expect("opens");
    let at = datetime!(2026-01-01 00:00 UTC);
    let mut other = record("other/green@1", true, at);
    other.endpoint = "rg/ws/other-ep".into();
    store.upsert_rollout(&other).expect("upsert");
    store
        .upsert_rollout(&record("mine/green@1", false, at))
        .expect("upsert");
    store
        .upsert_rollout(&record(
            "mine/green@2",
            true,
            at + time::Duration::minutes(1),
        ))
        .expect("upsert");

    let all: Vec<String> = store
        .endpoint_rollouts("rg/ws/my-ep", false)
        .expect("lists")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, ["mine/green@1", "mine/green@2"]);
    let active: Vec<String> = store
        .endpoint_rollouts("rg/ws/my-ep", true)
        .expect("lists")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(active, ["mine/green@2"]);
    assert!(
        store
            .endpoint_rollouts("rg/ws/unknown", false)
            .expect("lists")
            .is_empty()
    );
}
