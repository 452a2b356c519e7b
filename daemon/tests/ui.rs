//! The status page's data and routes, and `canaryd report`, over a store seeded with a rollout
//! driven through the real state machine and judge (see `ui/seed.rs`).

#[path = "ui/seed.rs"]
mod seed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use canaryd::judge::Outcome;
use canaryd::store::{JournalEntry, Store};
use canaryd::ui::timeline::{rollout_list, rollout_view};
use serde_json::{Value, json};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let unique = format!(
            "canaryd-ui-{name}-{}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn seeded_store() -> (Store, seed::Seeded) {
    let store = Store::open_in_memory().expect("in-memory store");
    let seeded = seed::seed(&store);
    (store, seeded)
}

#[test]
fn the_seeded_rollout_advanced_then_rolled_back() {
    // Guards the fixture itself: the other tests rely on its shape.
    let (_store, seeded) = seeded_store();
    assert_eq!(
        seeded.final_state.phase,
        canaryd::rollout::Phase::RolledBack,
        "{:?}",
        seeded.final_state.final_reason
    );
    assert!(
        seeded.figures.len() >= 5,
        "{} windows",
        seeded.figures.len()
    );
}

#[test]
fn the_timeline_shows_identity_traffic_intervals_and_decisions() {
    let (store, seeded) = seeded_store();
    let view = rollout_view(&store, &seeded.rollout_id).expect("view");

    assert_eq!(view.identity.id, seeded.rollout_id);
    assert_eq!(view.identity.policy_name, "checkout");
    assert_eq!(view.identity.policy_hash, seeded.policy.content_hash);
    assert_eq!(view.identity.endpoint, "rg-shop/ws-shop/checkout");
    assert_eq!(view.identity.baseline, "blue");
    assert_eq!(view.identity.canary, "green");
    assert_eq!(view.phase, "rolled back");
    assert!(!view.active);
    assert!(view.paused.is_none());
    assert!(
        view.final_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("rolled back")),
        "{:?}",
        view.final_reason
    );
    assert_eq!(view.canary_percent, 0);

    // Traffic: 0 at the start, 10%, then 50%, then back to 0 (and the closing point).
    let canary: Vec<u32> = view.traffic.iter().map(|p| p.canary_percent).collect();
    assert_eq!(canary, vec![0, 10, 50, 0, 0], "{:?}", view.traffic);
    assert!(
        view.traffic
            .iter()
            .all(|p| p.canary_percent + p.baseline_percent == 100)
    );
    assert!(view.traffic.windows(2).all(|w| w[0].at <= w[1].at));

    // Steps: the start, the advance to 50% and the rollback, each applied.
    let kinds: Vec<&str> = view.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, vec!["start", "advance", "roll back"]);
    let percents: Vec<u32> = view.steps.iter().map(|s| s.canary_percent).collect();
    assert_eq!(percents, vec![10, 50, 0]);
    assert!(view.steps.iter().all(|s| s.outcome.starts_with("applied")));
    assert_eq!(view.steps[0].phase_began.as_deref(), Some("step 1/3 (10%)"));
    assert_eq!(view.steps[2].phase_began.as_deref(), Some("rolled back"));

    // One interval per judged window, with the journaled figures.
    assert_eq!(view.intervals.len(), seeded.figures.len());
    for (interval, figures) in view.intervals.iter().zip(&seeded.figures) {
        assert_eq!(
            interval.window_end.unix_timestamp(),
            figures.window_end_unix_s
        );
        assert_eq!(interval.canary.requests, figures.canary.requests);
        assert_eq!(interval.baseline.requests, figures.baseline.requests);
        assert_eq!(interval.canary.p99_ms, figures.canary.p99_ms);
        assert_eq!(interval.baseline.error_rate, figures.baseline.error_rate);
    }
    assert_eq!(
        view.intervals.last().and_then(|i| i.outcome),
        Some(Outcome::Regressed)
    );
    // The canary served 10% then 50% of the windows' requests.
    assert_eq!(view.intervals[0].canary.requests, 240);
    assert_eq!(view.intervals.last().map(|i| i.canary.requests), Some(1200));

    // Every journal entry is a decision; the rollback carries the regressed checks.
    assert_eq!(view.decisions.len(), seeded.entries);
    let rollback = view
        .decisions
        .iter()
        .find(|d| d.kind == "roll back")
        .expect("a roll back decision");
    assert_eq!(rollback.outcome, Some(Outcome::Regressed));
    assert!(
        rollback
            .action
            .as_deref()
            .is_some_and(|a| a.contains("blue=100%")),
        "{:?}",
        rollback.action
    );
    assert!(
        rollback
            .result
            .as_deref()
            .is_some_and(|r| r.starts_with("applied"))
    );
    let regressed: Vec<_> = rollback
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Regressed)
        .collect();
    assert!(!regressed.is_empty(), "{:?}", rollback.checks);
    assert!(
        regressed
            .iter()
            .all(|c| c.n_canary > 0 && !c.reason.is_empty())
    );
    assert!(rollback.window_start.is_some() && rollback.query.is_some());
}

#[test]
fn unreadable_journal_parts_are_tolerated() {
    let (store, seeded) = seeded_store();
    let before = rollout_view(&store, &seeded.rollout_id).expect("view");
    let mut entry: JournalEntry = store
        .journal(&seeded.rollout_id)
        .expect("journal")
        .pop()
        .expect("an entry");
    entry.decision = "operator note: looked at it".into();
    entry.evidence = json!({"overall": "sideways"});
    entry.raw_counts = json!({"figures": {"window_start_unix_s": "yesterday"}});
    entry.action = None;
    entry.result = None;
    store.append_journal(&entry).expect("append");

    let view = rollout_view(&store, &seeded.rollout_id).expect("view still builds");
    assert_eq!(view.intervals.len(), before.intervals.len());
    let last = view.decisions.last().expect("a decision");
    assert_eq!(last.kind, "note");
    assert!(last.evidence_problem.is_some());
    assert!(last.checks.is_empty());
}

#[test]
fn the_list_shows_every_rollout_newest_first() {
    let (store, seeded) = seeded_store();
    let list = rollout_list(&store).expect("list");
    assert_eq!(list.len(), 1);
    let row = &list[0];
    assert_eq!(row.id, seeded.rollout_id);
    assert_eq!(row.endpoint, "rg-shop/ws-shop/checkout");
    assert_eq!(row.canary, "green");
    assert_eq!(row.phase, "rolled back");
    assert_eq!(row.canary_percent, Some(0));
    assert!(!row.active);
    assert!(
        row.last_decision
            .as_deref()
            .is_some_and(|d| d.starts_with("complete: rolled back")),
        "{:?}",
        row.last_decision
    );
    assert!(row.problem.is_none());

    // A second, corrupt row is listed with its problem, not an error.
    let mut broken = store
        .rollout(&seeded.rollout_id)
        .expect("read")
        .expect("exists");
    broken.id = "zz-broken".into();
    broken.state = json!({"phase": 42});
    broken.updated_at += std::time::Duration::from_secs(3600);
    store.upsert_rollout(&broken).expect("upsert");
    let list = rollout_list(&store).expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, "zz-broken");
    assert_eq!(list[0].phase, "unreadable");
    assert!(list[0].problem.is_some());
}

async fn serve(store: Arc<Store>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, canaryd::ui::router(store)).await;
    });
    format!("http://{address}")
}

#[tokio::test]
async fn the_routes_answer_with_the_data() {
    let (store, seeded) = seeded_store();
    let expected = serde_json::to_value(rollout_view(&store, &seeded.rollout_id).expect("view"))
        .expect("serializes");
    let base = serve(Arc::new(store)).await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move { client.get(url).send().await.expect("request") }
    };

    let list = get("/ui/data/rollouts".into()).await;
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.expect("JSON");
    assert_eq!(list[0]["id"], json!(seeded.rollout_id));
    assert_eq!(list[0]["phase"], json!("rolled back"));

    // Ids contain slashes; the page requests them encoded, a person may type them raw.
    assert!(seeded.rollout_id.contains('/'));
    let encoded = canaryd::ui::percent_encode(&seeded.rollout_id);
    let raw = get(format!("/ui/data/rollouts/{}", seeded.rollout_id)).await;
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.json::<Value>().await.expect("JSON"), expected);
    let one = get(format!("/ui/data/rollouts/{encoded}")).await;
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.expect("JSON");
    assert_eq!(one, expected);
    assert_eq!(
        one["intervals"].as_array().map(Vec::len),
        Some(seeded.figures.len())
    );

    let missing = get("/ui/data/rollouts/no-such-rollout".into()).await;
    assert_eq!(missing.status(), 404);

    let page = get("/?token=read%20me".into()).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("text");
    assert!(
        html.contains(r#"<script src="assets/app.js?token=read%20me"></script>"#),
        "{html}"
    );
    assert!(html.contains(r#"data-page="list""#));

    let page = get(format!("/rollouts/{encoded}?token=abc")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("text");
    assert!(
        html.contains(r#"href="../assets/style.css?token=abc""#),
        "{html}"
    );
    assert!(html.contains(&format!(r#"data-data="../ui/data/rollouts/{encoded}""#)));
    // Typed raw, the id takes four segments: the links climb back all of them.
    let page = get(format!("/rollouts/{}", seeded.rollout_id)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("text");
    assert!(
        html.contains(r#"href="../../../../assets/style.css""#),
        "{html}"
    );
    assert_eq!(get("/rollouts/no-such-rollout".into()).await.status(), 404);

    let script = get("/assets/app.js".into()).await;
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/javascript"))
    );
    assert_eq!(script.text().await.expect("text"), canaryd::ui::APP_JS);
    assert_eq!(get("/assets/style.css".into()).await.status(), 200);
    assert_eq!(get("/assets/../Cargo.toml".into()).await.status(), 404);
}

fn report_args(
    rollout: &str,
    out: &Path,
    db: &Path,
    policies: &Path,
) -> canaryd::cli::report::ReportArgs {
    canaryd::cli::report::ReportArgs {
        rollout: rollout.to_string(),
        out: out.to_path_buf(),
        config: None,
        state_db: Some(db.to_path_buf()),
        policies_dir: Some(policies.to_path_buf()),
    }
}

/// A state database file with the seeded rollout, and a policies directory with its policy.
fn seeded_files(dir: &TempDir) -> (PathBuf, PathBuf, seed::Seeded) {
    let db = dir.0.join("state.db");
    let policies = dir.0.join("policies");
    std::fs::create_dir_all(&policies).expect("policies dir");
    std::fs::write(policies.join(seed::POLICY_FILE_NAME), seed::POLICY_YAML).expect("policy file");
    let store = Store::open(&db).expect("file store");
    let seeded = seed::seed(&store);
    (db, policies, seeded)
}

#[test]
fn the_report_is_self_contained_and_carries_the_evidence() {
    let dir = TempDir::new("report");
    let (db, policies, seeded) = seeded_files(&dir);
    // The daemon keeps its store open while a report is written.
    let daemon_store = Store::open(&db).expect("second connection");
    let out = dir.0.join("report.html");
    canaryd::cli::report::run(&report_args(&seeded.rollout_id, &out, &db, &policies))
        .expect("report written");
    let html = std::fs::read_to_string(&out).expect("report readable");

    for forbidden in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "url(http",
        "@import",
    ] {
        assert!(
            !html.contains(forbidden),
            "external reference {forbidden:?} in the report"
        );
    }
    assert!(!html.contains("assets/app.js") && !html.contains("assets/style.css"));
    assert!(
        html.contains("function renderRollout"),
        "the script is inlined"
    );
    assert!(html.contains("svg.chart"), "the stylesheet is inlined");

    // The embedded data is the same view the page serves, plus the policy.
    let start = html
        .find(r#"<script type="application/json" id="canaryd-data">"#)
        .expect("embedded data")
        + r#"<script type="application/json" id="canaryd-data">"#.len();
    let end = start + html[start..].find("</script>").expect("end of data");
    let data: Value = serde_json::from_str(&html[start..end]).expect("embedded JSON");
    let expected =
        serde_json::to_value(rollout_view(&daemon_store, &seeded.rollout_id).expect("view"))
            .expect("serializes");
    assert_eq!(data["rollout"], expected);
    assert_eq!(data["policy"]["name"], json!("checkout"));
    assert_eq!(data["policy"]["hash"], json!(seeded.policy.content_hash));
    assert_eq!(data["policy"]["text"], json!(seed::POLICY_YAML));
    assert!(
        data["policy"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(seed::POLICY_FILE_NAME))
    );
    assert!(html.contains(&seeded.rollout_id));
}

#[test]
fn the_report_says_when_the_policy_file_changed() {
    let dir = TempDir::new("report-changed");
    let (db, policies, seeded) = seeded_files(&dir);
    std::fs::write(
        policies.join(seed::POLICY_FILE_NAME),
        seed::POLICY_YAML.replace("bake_time: 10m", "bake_time: 20m"),
    )
    .expect("edit policy");
    let html = canaryd::cli::report::render(&seeded.rollout_id, &db, &policies).expect("render");
    assert!(html.contains("the policy was changed or removed since this rollout"));
    assert!(!html.contains("workspace_id: 5b1c0f0e"));
}

#[test]
fn the_report_command_fails_clearly() {
    let dir = TempDir::new("report-cli");
    let (db, policies, seeded) = seeded_files(&dir);
    let canaryd = env!("CARGO_BIN_EXE_canaryd");

    // An unknown rollout: exit 2 and the known ids.
    let out = dir.0.join("unknown.html");
    let run = std::process::Command::new(canaryd)
        .args(["report", "no-such-rollout", "--out"])
        .arg(&out)
        .arg("--state-db")
        .arg(&db)
        .arg("--policies-dir")
        .arg(&policies)
        .output()
        .expect("canaryd runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no rollout 'no-such-rollout'"), "{stderr}");
    assert!(stderr.contains(&seeded.rollout_id), "{stderr}");
    assert!(!out.exists());

    // An unwritable destination.
    let out = dir.0.join("missing-dir").join("report.html");
    let run = std::process::Command::new(canaryd)
        .args(["report", &seeded.rollout_id, "--out"])
        .arg(&out)
        .arg("--state-db")
        .arg(&db)
        .arg("--policies-dir")
        .arg(&policies)
        .output()
        .expect("canaryd runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the report to"), "{stderr}");

    // A state database that does not exist is not created.
    let missing_db = dir.0.join("nope.db");
    let error = canaryd::cli::report::run(&report_args(
        &seeded.rollout_id,
        &dir.0.join("x.html"),
        &missing_db,
        &policies,
    ))
    .expect_err("no database");
    assert!(format!("{error:#}").contains("does not exist"), "{error:#}");
    assert!(!missing_db.exists());

    // And it succeeds through the binary.
    let out = dir.0.join("ok.html");
    let run = std::process::Command::new(canaryd)
        .args(["report", &seeded.rollout_id, "--out"])
        .arg(&out)
        .arg("--state-db")
        .arg(&db)
        .arg("--policies-dir")
        .arg(&policies)
        .output()
        .expect("canaryd runs");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.is_file());
}
