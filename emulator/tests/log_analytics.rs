//! The KQL subset and the Log Analytics query API. Engine tests run queries straight over a
//! log store whose rows the test built, and check results against numbers computed here from
//! those same rows; HTTP tests drive the route through reqwest with tokens from the real
//! `ManagedIdentityCredential`.

mod common;

use std::collections::BTreeMap;

use azure_emulator::faults::Fault;
use azure_emulator::kql::{self, KqlError, QueryScope, ResultTable, Value, Visibility};
use azure_emulator::logstore::{LogSnapshot, LogStore};
use azure_emulator::model::{EndpointLogContext, RequestRow};
use azure_emulator::{Clock, LOG_ANALYTICS_RESOURCE};

const LA_WORKSPACE: &str = "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11";
const OTHER_WORKSPACE: &str = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a";
/// 2026-01-01T00:00:00Z in unix µs.
const T0_US: i64 = 1_767_225_600_000_000;

fn context(la_workspace: &str, endpoint: &str) -> EndpointLogContext {
    EndpointLogContext {
        log_analytics_workspace_id: la_workspace.into(),
        endpoint_name: endpoint.into(),
        workspace_id: "6c2d1f0e-7a3d-4e61-9c1a-2f4d6b8a0c12".into(),
        workspace_name: "ws-canary".into(),
        location: "eastus".into(),
        resource_id: format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws-canary/onlineEndpoints/{endpoint}"
        ),
        tenant_id: "0d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
    }
}

/// A small deterministic pseudo-random sequence (xorshift), so the rows are varied but the
/// test needs no seed management.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` rows, one every 100 ms from T0, spread over three deployments with different latency
/// and error profiles.
fn generated_rows(store: &LogStore, endpoint: u32, n: usize) -> Vec<RequestRow> {
    let deployments = [
        (store.intern("blue"), 40u32, 2u64),
        (store.intern("green"), 70, 10),
        (store.intern("shadow"), 55, 5),
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..n)
        .map(|i| {
            let (dep, base, err_pct) = deployments[(rng.next() % 3) as usize];
            let jitter = (rng.next() % 200) as u32;
            let code = if rng.next() % 100 < err_pct {
                [500u16, 503, 429][(rng.next() % 3) as usize]
            } else {
                200
            };
            RequestRow {
                time_us: T0_US + i as i64 * 100_000,
                seq: i as u64,
                mirror_of: None,
                endpoint,
                deployment: dep,
                response_code: code,
                model_status_code: code,
                total_duration_ms: base + jitter,
                request_duration_ms: 1 + jitter % 5,
                response_duration_ms: base + jitter / 2,
                request_throttling_delay_ms: 0,
                response_throttling_delay_ms: 0,
                request_payload_size: 100 + (i % 7) as u32,
                response_payload_size: 200,
            }
        })
        .collect()
}

struct Fixture {
    store: LogStore,
    rows: Vec<RequestRow>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let store = LogStore::new();
        let ep = store.endpoint_id(context(LA_WORKSPACE, "my-ep"));
        let rows = generated_rows(&store, ep, n);
        store.append(&rows);
        Fixture { store, rows }
    }

    fn snapshot(&self) -> LogSnapshot {
        self.store.snapshot()
    }

    fn deployment(&self, row: &RequestRow) -> String {
        self.snapshot().string(row.deployment).to_string()
    }

    fn query(&self, q: &str) -> ResultTable {
        match kql::execute(q, &self.snapshot(), &scope()) {
            Ok(t) => t,
            Err(e) => panic!("query failed: {e}\n{q}"),
        }
    }

    fn error(&self, q: &str) -> KqlError {
        match kql::execute(q, &self.snapshot(), &scope()) {
            Ok(t) => panic!("query should fail: {q}\ngot {:?}", t.columns),
            Err(e) => e,
        }
    }
}

fn scope() -> QueryScope {
    QueryScope {
        now_us: T0_US + 3_600_000_000,
        ..QueryScope::default()
    }
}

fn col(t: &ResultTable, name: &str) -> usize {
    t.column_index(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", t.columns))
}

fn types(t: &ResultTable) -> Vec<(&str, &str)> {
    t.columns
        .iter()
        .map(|(n, ty)| (n.as_str(), ty.name()))
        .collect()
}

fn as_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => panic!("expected a string, got {other:?}"),
    }
}

/// Rows of a result keyed by its first (string) column.
fn by_first_column(t: &ResultTable) -> BTreeMap<String, Vec<Value>> {
    t.rows.iter().map(|r| (as_str(&r[0]), r.clone())).collect()
}

fn nearest_rank(mut values: Vec<u32>, p: f64) -> u32 {
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
    values[rank.min(values.len()) - 1]
}

#[test]
fn per_deployment_summary_matches_the_rows() {
    let f = Fixture::new(6000);
    let t = f.query(
        "AmlOnlineEndpointTrafficLog
         | where TimeGenerated >= datetime(2026-01-01T00:00:00Z) and TimeGenerated < datetime(2026-01-01T00:05:00Z)
         | where EndpointName == \"my-ep\"
         | summarize requests = count(),
             p99 = todouble(percentile(TotalDurationMs, 99)),
             p50 = percentile(TotalDurationMs, 50),
             errors5xx = countif(toint(ResponseCode) between (500 .. 599)),
             avg_ms = avg(TotalDurationMs),
             bytes = sum(RequestPayloadSize)
           by DeploymentName",
    );
    assert_eq!(
        types(&t),
        vec![
            ("DeploymentName", "string"),
            ("requests", "long"),
            ("p99", "real"),
            ("p50", "long"),
            ("errors5xx", "long"),
            ("avg_ms", "real"),
            ("bytes", "long"),
        ]
    );
    let end_us = T0_US + 300_000_000;
    let mut expected: BTreeMap<String, Vec<&RequestRow>> = BTreeMap::new();
    for r in f.rows.iter().filter(|r| r.time_us < end_us) {
        expected.entry(f.deployment(r)).or_default().push(r);
    }
    let got = by_first_column(&t);
    assert_eq!(got.len(), 3);
    for (dep, rows) in &expected {
        let row = &got[dep];
        let durations: Vec<u32> = rows.iter().map(|r| r.total_duration_ms).collect();
        assert_eq!(row[1], Value::Long(rows.len() as i64), "{dep} count");
        assert_eq!(
            row[2],
            Value::Real(f64::from(nearest_rank(durations.clone(), 99.0))),
            "{dep} p99"
        );
        assert_eq!(
            row[3],
            Value::Long(i64::from(nearest_rank(durations.clone(), 50.0))),
            "{dep} p50"
        );
        let errors = rows
            .iter()
            .filter(|r| (500..=599).contains(&r.response_code))
            .count();
        assert_eq!(row[4], Value::Long(errors as i64), "{dep} 5xx");
        let mean = durations.iter().map(|d| f64::from(*d)).sum::<f64>() / durations.len() as f64;
        match row[5] {
            Value::Real(v) => assert!((v - mean).abs() < 1e-9, "{dep} avg {v} vs {mean}"),
            ref other => panic!("avg is {other:?}"),
        }
        let bytes: i64 = rows.iter().map(|r| i64::from(r.request_payload_size)).sum();
        assert_eq!(row[6], Value::Long(bytes));
    }
}

#[test]
fn histogram_buckets_match_the_rows() {
    let f = Fixture::new(3000);
    let t = f.query(
        "AmlOnlineEndpointTrafficLog
         | summarize n = count() by DeploymentName, bucket = toint(floor(log(todouble(TotalDurationMs)) / log(1.1), 1))
         | order by DeploymentName asc, bucket asc",
    );
    assert_eq!(
        types(&t),
        vec![
            ("DeploymentName", "string"),
            ("bucket", "int"),
            ("n", "long")
        ]
    );
    let mut expected: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for r in &f.rows {
        let bucket = (f64::from(r.total_duration_ms).ln() / 1.1f64.ln()).floor() as i32;
        *expected.entry((f.deployment(r), bucket)).or_default() += 1;
    }
    let got: Vec<((String, i32), i64)> = t
        .rows
        .iter()
        .map(|r| match (&r[1], &r[2]) {
            (Value::Int(b), Value::Long(n)) => ((as_str(&r[0]), *b), *n),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    // Sorted ascending by both keys, so it lines up with the BTreeMap's order.
    assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
}

#[test]
fn percentiles_and_default_aggregate_names_follow_kusto() {
    let f = Fixture::new(2000);
    let t = f.query(
        "AmlOnlineEndpointTrafficLog
         | summarize count(), percentiles(TotalDurationMs, 50, 95, 99.9), sum(TotalDurationMs),
             avg(ResponseDurationMs), min(TimeGenerated), max(TotalDurationMs), dcount(DeploymentName),
             countif(ResponseCode == 200)",
    );
    assert_eq!(
        types(&t),
        vec![
            ("count_", "long"),
            ("percentile_TotalDurationMs_50", "long"),
            ("percentile_TotalDurationMs_95", "long"),
            ("percentile_TotalDurationMs_99_9", "long"),
            ("sum_TotalDurationMs", "long"),
            ("avg_ResponseDurationMs", "real"),
            ("min_TimeGenerated", "datetime"),
            ("max_TotalDurationMs", "long"),
            ("dcount_DeploymentName", "long"),
            ("countif_", "long"),
        ]
    );
    let durations: Vec<u32> = f.rows.iter().map(|r| r.total_duration_ms).collect();
    let row = &t.rows[0];
    assert_eq!(row[0], Value::Long(2000));
    assert_eq!(
        row[1],
        Value::Long(i64::from(nearest_rank(durations.clone(), 50.0)))
    );
    assert_eq!(
        row[2],
        Value::Long(i64::from(nearest_rank(durations.clone(), 95.0)))
    );
    assert_eq!(
        row[3],
        Value::Long(i64::from(nearest_rank(durations.clone(), 99.9)))
    );
    let sum: i64 = durations.iter().map(|d| i64::from(*d)).sum();
    assert_eq!(row[4], Value::Long(sum));
    assert_eq!(row[6], Value::DateTime(T0_US * 10));
    assert_eq!(
        row[7],
        Value::Long(i64::from(*durations.iter().max().unwrap_or(&0)))
    );
    assert_eq!(row[8], Value::Long(3));
    let ok = f.rows.iter().filter(|r| r.response_code == 200).count();
    assert_eq!(row[9], Value::Long(ok as i64));
}

#[test]
fn summarize_without_by_answers_one_row_even_when_nothing_matches() {
    let f = Fixture::new(100);
    let t = f.query(
        "AmlOnlineEndpointTrafficLog | where DeploymentName == 'nobody'
         | summarize n = count(), p = percentile(TotalDurationMs, 90), s = sum(TotalDurationMs)",
    );
    assert_eq!(t.rows, vec![vec![Value::Long(0), Value::Null, Value::Null]]);
    let grouped = f.query(
        "AmlOnlineEndpointTrafficLog | where DeploymentName == 'nobody' | summarize count() by DeploymentName",
    );
    assert!(grouped.rows.is_empty());
}

#[test]
fn tabular_operators_shape_rows() {
    let f = Fixture::new(500);
    // where + extend + project + order + take
    let t = f.query(
        "AmlOnlineEndpointTrafficLog
         | where DeploymentName == 'green' and ResponseCode != 200
         | extend slow = TotalDurationMs > 150, ms = TotalDurationMs * 2
         | project DeploymentName, ms, slow, Code = ResponseCode
         | order by ms desc, Code asc
         | take 5",
    );
    assert_eq!(
        types(&t),
        vec![
            ("DeploymentName", "string"),
            ("ms", "long"),
            ("slow", "bool"),
            ("Code", "int")
        ]
    );
    let mut expected: Vec<(i64, i32)> = f
        .rows
        .iter()
        .filter(|r| f.deployment(r) == "green" && r.response_code != 200)
        .map(|r| {
            (
                i64::from(r.total_duration_ms) * 2,
                i32::from(r.response_code),
            )
        })
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    expected.truncate(5);
    let got: Vec<(i64, i32)> = t
        .rows
        .iter()
        .map(|r| match (&r[1], &r[3]) {
            (Value::Long(ms), Value::Int(c)) => (*ms, *c),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, expected);
    for r in &t.rows {
        let Value::Long(ms) = r[1] else { panic!() };
        assert_eq!(r[2], Value::Bool(ms > 300));
    }

    // top N by (default desc) and limit
    let top =
        f.query("AmlOnlineEndpointTrafficLog | top 3 by TotalDurationMs | project TotalDurationMs");
    let mut all: Vec<u32> = f.rows.iter().map(|r| r.total_duration_ms).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    let got: Vec<Value> = top.rows.iter().map(|r| r[0].clone()).collect();
    let want: Vec<Value> = all[..3].iter().map(|d| Value::Int(*d as i32)).collect();
    assert_eq!(got, want);
    let asc = f.query(
        "AmlOnlineEndpointTrafficLog | top 2 by TotalDurationMs asc | project TotalDurationMs",
    );
    assert_eq!(asc.rows[0][0], Value::Int(*all.last().unwrap_or(&0) as i32));
    assert_eq!(
        f.query("AmlOnlineEndpointTrafficLog | limit 7").rows.len(),
        7
    );

    // sort by defaults to descending
    let sorted = f.query(
        "AmlOnlineEndpointTrafficLog | sort by TimeGenerated | take 1 | project TimeGenerated",
    );
    let last = f.rows.last().map(|r| r.time_us * 10).unwrap_or(0);
    assert_eq!(sorted.rows[0][0], Value::DateTime(last));

    // count, distinct, project-away, project-rename
    let c = f.query("AmlOnlineEndpointTrafficLog | where ResponseCode == 200 | count");
    let ok = f.rows.iter().filter(|r| r.response_code == 200).count();
    assert_eq!(types(&c), vec![("Count", "long")]);
    assert_eq!(c.rows, vec![vec![Value::Long(ok as i64)]]);
    let d = f.query(
        "AmlOnlineEndpointTrafficLog | distinct DeploymentName | order by DeploymentName asc",
    );
    let names: Vec<String> = d.rows.iter().map(|r| as_str(&r[0])).collect();
    assert_eq!(names, vec!["blue", "green", "shadow"]);
    let away = f.query("AmlOnlineEndpointTrafficLog | project-away TimeGenerated, Type | take 1");
    assert_eq!(away.columns.len(), 26);
    assert!(away.column_index("TimeGenerated").is_none());
    let renamed = f.query(
        "AmlOnlineEndpointTrafficLog | project-rename Dep = DeploymentName | take 1 | project Dep",
    );
    assert_eq!(types(&renamed), vec![("Dep", "string")]);

    // operators after summarize see its output
    let after = f.query(
        "AmlOnlineEndpointTrafficLog | summarize n = count() by DeploymentName
         | extend share = todouble(n) / 500 | where n > 0 | order by n desc | project DeploymentName, share",
    );
    let total: f64 = after
        .rows
        .iter()
        .map(|r| match r[1] {
            Value::Real(v) => v,
            _ => 0.0,
        })
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "shares sum to {total}");
}

#[test]
fn every_column_is_present_with_its_documented_type() {
    let f = Fixture::new(3);
    let t = f.query("AmlOnlineEndpointTrafficLog | take 1");
    let expected = [
        ("TimeGenerated", "datetime"),
        ("EndpointName", "string"),
        ("DeploymentName", "string"),
        ("ResponseCode", "int"),
        ("ResponseCodeReason", "string"),
        ("ModelStatusCode", "int"),
        ("ModelStatusReason", "string"),
        ("TotalDurationMs", "int"),
        ("RequestDurationMs", "int"),
        ("ResponseDurationMs", "int"),
        ("RequestThrottlingDelayMs", "int"),
        ("ResponseThrottlingDelayMs", "int"),
        ("RequestPayloadSize", "int"),
        ("ResponsePayloadSize", "int"),
        ("Method", "string"),
        ("Path", "string"),
        ("Protocol", "string"),
        ("UserAgent", "string"),
        ("AuthType", "string"),
        ("XRequestId", "string"),
        ("XMSClientRequestId", "string"),
        ("AzureMLWorkspaceId", "string"),
        ("AzureMLWorkspaceName", "string"),
        ("Location", "string"),
        ("OperationName", "string"),
        ("_ResourceId", "string"),
        ("TenantId", "string"),
        ("Type", "string"),
    ];
    assert_eq!(types(&t), expected.to_vec());
    let row = &t.rows[0];
    let get = |name: &str| row[col(&t, name)].clone();
    assert_eq!(get("Method"), Value::str("POST"));
    assert_eq!(get("Path"), Value::str("/score"));
    assert_eq!(get("Type"), Value::str("AmlOnlineEndpointTrafficLog"));
    assert_eq!(get("EndpointName"), Value::str("my-ep"));
    assert_eq!(get("Location"), Value::str("eastus"));
    assert_eq!(
        get("OperationName"),
        Value::str("Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score")
    );
    let reason = as_str(&get("ResponseCodeReason"));
    let code = get("ResponseCode");
    assert_eq!(
        reason == "OK",
        code == Value::Int(200),
        "{reason} for {code:?}"
    );
}

#[test]
fn mirrored_rows_share_the_client_request_id_of_their_live_request() {
    let store = LogStore::new();
    let ep = store.endpoint_id(context(LA_WORKSPACE, "my-ep"));
    let mut rows = generated_rows(&store, ep, 2);
    rows[1].mirror_of = Some(rows[0].seq);
    rows[1].deployment = store.intern("shadow");
    store.append(&rows);
    let t = kql::execute(
        "AmlOnlineEndpointTrafficLog | project XRequestId, XMSClientRequestId, DeploymentName",
        &store.snapshot(),
        &scope(),
    )
    .expect("runs");
    assert_eq!(t.rows.len(), 2);
    assert_ne!(
        t.rows[0][0], t.rows[1][0],
        "each request has its own XRequestId"
    );
    assert_eq!(
        t.rows[0][1], t.rows[1][1],
        "a mirror keeps its live request's client id"
    );
    let again = kql::execute(
        "AmlOnlineEndpointTrafficLog | project XRequestId",
        &store.snapshot(),
        &scope(),
    )
    .expect("runs");
    assert_eq!(again.rows[0][0], t.rows[0][0], "ids are deterministic");
}

#[test]
fn scalar_functions_and_operators_evaluate_like_kusto() {
    let f = Fixture::new(1);
    let t = f.query(
        "let limit_ms = 100;
         let window = 5m;
         AmlOnlineEndpointTrafficLog
         | take 1
         | project
             a = 7 / 2, b = 7.0 / 2, c = -7 % 3, d = toint(2.9), e = tolong('42'), g = todouble('2.5'),
             h = tostring(12), i = iff(1 > 2, 'x', 'y'), j = iif(true, 1, 2.5), k = round(2.567, 2),
             l = bin(17, 5), m = bin(datetime(2026-01-01T00:07:31Z), window), n = time(1.5h) / 1m,
             o = datetime(2026-01-01) + 1d, p = datetime(2026-01-02) - datetime(2026-01-01),
             q = 3 between (1 .. 3), r = 4 !between (1 .. 3), s = 'Blue' =~ 'blue', t = 'Blue' == 'blue',
             u = 5 in (1, 5), v = 5 !in (1, 5), w = 'abc' in~ ('ABC'), x = not(true), y = limit_ms * 2,
             z = log10(1000), aa = exp(0), ab = floor(-2.5, 1), ac = 'Canary' contains 'NAR',
             ad = 'Canary' startswith 'can', ae = strcat('a', 1, true), af = strlen('héllo'),
             ag = tolower('AbC'), ah = abs(-3), ai = 100ms + 1s, aj = 'x' != 'y', ak = 'b' > 'a',
             al = isnull(toint('nope')), am = isnotnull(1), an = isempty(''), ao = toupper('q'),
             ap = sqrt(16), aq = pow(2, 10), ar = log2(8), as_ = round(15, -1), at = long(null) + 1",
    );
    let expect = [
        ("a", Value::Long(3), "long"),
        ("b", Value::Real(3.5), "real"),
        ("c", Value::Long(2), "long"),
        ("d", Value::Int(2), "int"),
        ("e", Value::Long(42), "long"),
        ("g", Value::Real(2.5), "real"),
        ("h", Value::str("12"), "string"),
        ("i", Value::str("y"), "string"),
        ("j", Value::Real(1.0), "real"),
        ("k", Value::Real(2.57), "real"),
        ("l", Value::Long(15), "long"),
        ("m", Value::DateTime((T0_US + 300_000_000) * 10), "datetime"),
        ("n", Value::Real(90.0), "real"),
        (
            "o",
            Value::DateTime((T0_US + 86_400_000_000) * 10),
            "datetime",
        ),
        ("p", Value::Timespan(864_000_000_000), "timespan"),
        ("q", Value::Bool(true), "bool"),
        ("r", Value::Bool(true), "bool"),
        ("s", Value::Bool(true), "bool"),
        ("t", Value::Bool(false), "bool"),
        ("u", Value::Bool(true), "bool"),
        ("v", Value::Bool(false), "bool"),
        ("w", Value::Bool(true), "bool"),
        ("x", Value::Bool(false), "bool"),
        ("y", Value::Long(200), "long"),
        ("z", Value::Real(3.0), "real"),
        ("aa", Value::Real(1.0), "real"),
        ("ab", Value::Real(-3.0), "real"),
        ("ac", Value::Bool(true), "bool"),
        ("ad", Value::Bool(true), "bool"),
        ("ae", Value::str("a1true"), "string"),
        ("af", Value::Long(5), "long"),
        ("ag", Value::str("abc"), "string"),
        ("ah", Value::Long(3), "long"),
        ("ai", Value::Timespan(11_000_000), "timespan"),
        ("aj", Value::Bool(true), "bool"),
        ("ak", Value::Bool(true), "bool"),
        ("al", Value::Bool(true), "bool"),
        ("am", Value::Bool(true), "bool"),
        ("an", Value::Bool(true), "bool"),
        ("ao", Value::str("Q"), "string"),
        ("ap", Value::Real(4.0), "real"),
        ("aq", Value::Real(1024.0), "real"),
        ("ar", Value::Real(3.0), "real"),
        ("as_", Value::Long(20), "long"),
        ("at", Value::Null, "long"),
    ];
    for (name, value, ty) in expect {
        let i = col(&t, name);
        assert_eq!(t.columns[i].1.name(), ty, "type of {name}");
        assert_eq!(t.rows[0][i], value, "value of {name}");
    }
}

#[test]
fn time_functions_use_the_query_clock() {
    let f = Fixture::new(600); // one minute of rows from T0
    // scope().now is T0 + 1h; ago(59.5m) is T0 + 30 s.
    let t = f.query("AmlOnlineEndpointTrafficLog | where TimeGenerated > ago(59.5m) | count");
    let expected = f
        .rows
        .iter()
        .filter(|r| r.time_us > T0_US + 30_000_000)
        .count();
    assert_eq!(t.rows[0][0], Value::Long(expected as i64));
    let now = f.query("AmlOnlineEndpointTrafficLog | take 1 | project n = now(), a = ago(1h)");
    assert_eq!(
        now.rows[0][0],
        Value::DateTime((T0_US + 3_600_000_000) * 10)
    );
    assert_eq!(now.rows[0][1], Value::DateTime(T0_US * 10));
    let buckets = f.query(
        "AmlOnlineEndpointTrafficLog | summarize n = count() by bin(TimeGenerated, 30s) | order by TimeGenerated asc",
    );
    assert_eq!(
        types(&buckets),
        vec![("TimeGenerated", "datetime"), ("n", "long")]
    );
    assert_eq!(
        buckets.rows,
        vec![
            vec![Value::DateTime(T0_US * 10), Value::Long(300)],
            vec![Value::DateTime((T0_US + 30_000_000) * 10), Value::Long(300)],
        ]
    );
}

#[test]
fn nulls_propagate_and_aggregates_skip_them() {
    let f = Fixture::new(1000);
    let t = f.query(
        "AmlOnlineEndpointTrafficLog
         | extend v = iff(ResponseCode == 200, TotalDurationMs, toint('not a number'))
         | summarize total = count(), nulls = countif(isnull(v)), s = sum(v), a = avg(v), mx = max(v),
             p = percentile(v, 100), d = dcount(v)",
    );
    let ok: Vec<u32> = f
        .rows
        .iter()
        .filter(|r| r.response_code == 200)
        .map(|r| r.total_duration_ms)
        .collect();
    let row = &t.rows[0];
    assert_eq!(row[0], Value::Long(1000));
    assert_eq!(row[1], Value::Long((1000 - ok.len()) as i64));
    let sum: i64 = ok.iter().map(|d| i64::from(*d)).sum();
    assert_eq!(row[2], Value::Long(sum));
    match row[3] {
        Value::Real(a) => assert!((a - sum as f64 / ok.len() as f64).abs() < 1e-9),
        ref other => panic!("{other:?}"),
    }
    let max = i64::from(ok.iter().max().copied().unwrap_or(0));
    assert_eq!(row[4], Value::Long(max));
    assert_eq!(row[5], Value::Long(max));
    let distinct: std::collections::BTreeSet<u32> = ok.iter().copied().collect();
    assert_eq!(row[6], Value::Long(distinct.len() as i64));
    // iff() branches of different widths give values of the column's (wider) type.
    let widened = f.query(
        "AmlOnlineEndpointTrafficLog | summarize n = count() by w = iff(ResponseCode == 200, ResponseCode, long(null))",
    );
    assert_eq!(types(&widened), vec![("w", "long"), ("n", "long")]);
    assert!(
        widened
            .rows
            .iter()
            .all(|r| matches!(r[0], Value::Long(200) | Value::Null))
    );
    assert_eq!(widened.rows.len(), 2);
    // A null comparison rejects the row in where.
    let none =
        f.query("AmlOnlineEndpointTrafficLog | where toint('x') > 0 or toint('y') <= 0 | count");
    assert_eq!(none.rows[0][0], Value::Long(0));
}

#[test]
fn unsupported_constructs_are_refused_by_name() {
    let f = Fixture::new(1);
    for (q, needle) in [
        (
            "AmlOnlineEndpointTrafficLog | join (AmlOnlineEndpointTrafficLog) on XRequestId",
            "operator 'join'",
        ),
        (
            "AmlOnlineEndpointTrafficLog | mv-expand x = pack_array(1)",
            "operator 'mv-expand'",
        ),
        (
            "AmlOnlineEndpointTrafficLog | parse Path with * '/' rest",
            "operator 'parse'",
        ),
        (
            "AmlOnlineEndpointTrafficLog | make-series count() on TimeGenerated step 1m",
            "operator 'make-series'",
        ),
        (
            "AmlOnlineEndpointTrafficLog | summarize arg_max(TimeGenerated, *)",
            "aggregate function 'arg_max()'",
        ),
        (
            "AmlOnlineEndpointTrafficLog | extend x = case(true, 1, 2)",
            "function 'case()'",
        ),
        (
            "AmlOnlineEndpointTrafficLog | where Path has 'score'",
            "operator 'has'",
        ),
        (
            "AmlOnlineEndpointConsoleLog | take 1",
            "table 'AmlOnlineEndpointConsoleLog'",
        ),
        ("union AmlOnlineEndpointTrafficLog", "operator 'union'"),
    ] {
        let e = f.error(q);
        let text = e.to_string();
        assert!(
            text.contains(needle) && text.contains("not supported by the emulator's KQL subset"),
            "{q}: {text}"
        );
        assert_eq!(e.inner_code(), "SemanticError", "{q}");
    }
}

#[test]
fn semantic_errors_name_the_problem() {
    let f = Fixture::new(1);
    let e = f.error("AmlOnlineEndpointTrafficLog | where Latency > 5");
    assert_eq!(
        e.to_string(),
        "'where' operator: Failed to resolve scalar expression named 'Latency'"
    );
    let e = f.error("AmlOnlineEndpointTrafficLog | extend x = frobnicate(1)");
    assert_eq!(e.to_string(), "Unknown function: 'frobnicate'.");
    let e = f.error("NoSuchTable | take 1");
    assert!(e.to_string().contains("'NoSuchTable'"), "{e}");
    let e = f.error("AmlOnlineEndpointTrafficLog | where ResponseCode == '200'");
    assert!(e.to_string().contains("(int, string)"), "{e}");
    let e = f.error("AmlOnlineEndpointTrafficLog | where TotalDurationMs");
    assert!(e.to_string().contains("bool"), "{e}");
    let e = f.error("AmlOnlineEndpointTrafficLog | extend c = count()");
    assert!(e.to_string().contains("only be used in 'summarize'"), "{e}");
    let e = f.error("AmlOnlineEndpointTrafficLog | summarize TotalDurationMs by DeploymentName");
    assert!(e.to_string().contains("aggregate"), "{e}");
    let e = f.error("AmlOnlineEndpointTrafficLog | summarize percentile(TotalDurationMs, 101)");
    assert!(e.to_string().contains("between 0 and 100"), "{e}");
    let e = f.error("AmlOnlineEndpointTrafficLog | project x = floor(2.5)");
    assert!(e.to_string().contains("2 (value, roundTo)"), "{e}");
    let e =
        f.error("AmlOnlineEndpointTrafficLog | project DeploymentName | where TotalDurationMs > 1");
    assert!(
        e.to_string().contains("'TotalDurationMs'"),
        "project drops columns: {e}"
    );
    for e in [
        f.error("AmlOnlineEndpointTrafficLog | where Latency > 5"),
        f.error("AmlOnlineEndpointTrafficLog | extend x = frobnicate(1)"),
    ] {
        assert_eq!(e.inner_code(), "SemanticError");
    }
}

#[test]
fn syntax_errors_give_line_and_column() {
    let f = Fixture::new(1);
    let e = f.error("AmlOnlineEndpointTrafficLog\n| where TotalDurationMs > > 5");
    assert_eq!(
        e,
        KqlError::Syntax {
            token: ">".into(),
            line: 2,
            column: 27
        }
    );
    assert_eq!(e.inner_code(), "SyntaxError");
    assert_eq!(
        e.to_string(),
        "Query could not be parsed at '>' on line [2,27]"
    );
    let e = f.error("AmlOnlineEndpointTrafficLog | summarize count() by");
    assert!(matches!(e, KqlError::Syntax { .. }), "{e:?}");
    let e = f.error("AmlOnlineEndpointTrafficLog | where x == 'unterminated");
    assert!(
        matches!(
            e,
            KqlError::Syntax {
                line: 1,
                column: 42,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn scope_limits_workspace_timespan_and_ingestion() {
    let store = LogStore::new();
    let mine = store.endpoint_id(context(LA_WORKSPACE, "my-ep"));
    let theirs = store.endpoint_id(context(OTHER_WORKSPACE, "their-ep"));
    let mut rows = generated_rows(&store, mine, 1200); // 2 minutes
    let mut other = generated_rows(&store, theirs, 1200);
    rows.append(&mut other);
    rows.sort_by_key(|r| r.time_us);
    store.append(&rows);
    let snapshot = store.snapshot();
    let count = |scope: &QueryScope| -> i64 {
        let t =
            kql::execute("AmlOnlineEndpointTrafficLog | count", &snapshot, scope).expect("runs");
        match t.rows[0][0] {
            Value::Long(n) => n,
            _ => -1,
        }
    };
    let base = QueryScope {
        now_us: T0_US + 120_000_000,
        workspace_id: Some(LA_WORKSPACE.to_ascii_uppercase()),
        ..QueryScope::default()
    };
    assert_eq!(
        count(&base),
        1200,
        "only the workspace's rows, matched case-insensitively"
    );
    let windowed = QueryScope {
        time_range_us: Some((T0_US + 30_000_000, T0_US + 60_000_000)),
        ..base.clone()
    };
    assert_eq!(count(&windowed), 300, "timespan is [from, until)");
    // 60 s ingestion delay at T0 + 120 s: rows up to T0 + 60 s (inclusive) are visible.
    let delayed = QueryScope {
        visibility: Some(Visibility {
            now_us: T0_US + 120_000_000,
            ingestion_delay_us: 60_000_000,
        }),
        ..base.clone()
    };
    assert_eq!(count(&delayed), 601);
    // A lag spike over [T0 + 10 s, T0 + 20 s) adds 100 s: those rows are not visible yet.
    let spiked = QueryScope {
        lag_spikes_us: vec![(T0_US + 10_000_000, T0_US + 20_000_000, 100_000_000)],
        ..delayed.clone()
    };
    assert_eq!(count(&spiked), 501);
    // The query's own filters apply on top of the scope.
    let t = kql::execute(
        "AmlOnlineEndpointTrafficLog | where TimeGenerated < datetime(2026-01-01T00:00:10Z) | count",
        &snapshot,
        &spiked,
    )
    .expect("runs");
    assert_eq!(t.rows[0][0], Value::Long(100));
}

#[test]
fn time_and_endpoint_filters_answer_the_same_however_they_are_written() {
    // The scan decides plain `TimeGenerated <op> constant` and endpoint-only conjuncts before
    // evaluating expressions; wrapping a filter in `(...) == true` defeats that, so both
    // spellings must agree.
    let store = LogStore::new();
    let mine = store.endpoint_id(context(LA_WORKSPACE, "my-ep"));
    let other = store.endpoint_id(context(LA_WORKSPACE, "other-ep"));
    let mut rows = generated_rows(&store, mine, 900);
    rows.extend(generated_rows(&store, other, 900));
    rows.sort_by_key(|r| r.time_us);
    store.append(&rows);
    let snapshot = store.snapshot();
    let count = |filter: &str| -> Value {
        let q = format!("AmlOnlineEndpointTrafficLog | where {filter} | count");
        match kql::execute(&q, &snapshot, &scope()) {
            Ok(t) => t.rows[0][0].clone(),
            Err(e) => panic!("{q}: {e}"),
        }
    };
    let filters = [
        "TimeGenerated >= datetime(2026-01-01T00:00:10Z) and TimeGenerated < datetime(2026-01-01T00:00:40Z)",
        "TimeGenerated > datetime(2026-01-01T00:00:00.0000005Z)",
        "TimeGenerated <= datetime(2026-01-01T00:00:10.1Z) and EndpointName == 'my-ep'",
        "datetime(2026-01-01T00:00:30Z) > TimeGenerated and DeploymentName == 'green'",
        "TimeGenerated between (datetime(2026-01-01T00:00:05Z) .. datetime(2026-01-01T00:00:06Z))",
        "TimeGenerated == datetime(2026-01-01T00:00:01Z)",
        "EndpointName =~ 'OTHER-EP' and TotalDurationMs > 100",
        "Location == 'westus'",
        "TimeGenerated between (datetime(2026-01-01T00:00:05Z) .. 10s) or EndpointName == 'other-ep'",
    ];
    for f in filters {
        let direct = count(f);
        let wrapped = count(&format!("({f}) == true"));
        assert_eq!(direct, wrapped, "{f}");
    }
    // And the numbers are right, from the rows themselves.
    let expected = rows
        .iter()
        .filter(|r| r.endpoint == mine && r.time_us <= T0_US + 10_100_000)
        .count();
    assert_eq!(count(filters[2]), Value::Long(expected as i64));
    assert_eq!(count(filters[7]), Value::Long(0));
    assert_eq!(
        count(filters[5]),
        Value::Long(2),
        "one row a 100 ms per endpoint"
    );
}

#[test]
fn row_limit_truncates_and_flags_the_result() {
    let f = Fixture::new(1000);
    let scope = QueryScope {
        row_limit: Some(300),
        ..scope()
    };
    let t = kql::execute(
        "AmlOnlineEndpointTrafficLog | project TotalDurationMs",
        &f.snapshot(),
        &scope,
    )
    .expect("runs");
    assert_eq!(t.rows.len(), 300);
    assert!(t.truncated);
    let small = kql::execute(
        "AmlOnlineEndpointTrafficLog | take 300",
        &f.snapshot(),
        &scope,
    )
    .expect("runs");
    assert_eq!(small.rows.len(), 300);
    assert!(!small.truncated, "exactly the limit is complete");
    let sorted = kql::execute(
        "AmlOnlineEndpointTrafficLog | order by TotalDurationMs asc | project TotalDurationMs",
        &f.snapshot(),
        &scope,
    )
    .expect("runs");
    assert!(sorted.truncated);
    let min = f
        .rows
        .iter()
        .map(|r| r.total_duration_ms)
        .min()
        .unwrap_or(0);
    assert_eq!(
        sorted.rows[0][0],
        Value::Int(min as i32),
        "sorting sees every row first"
    );
}

// ---------------------------------------------------------------------------------------
// HTTP: the route through a real client, tokens through the real credential.

async fn la_token(emu: &azure_emulator::RunningEmulator) -> String {
    common::bearer(emu, LOG_ANALYTICS_RESOURCE).await
}

fn query_url(emu: &azure_emulator::RunningEmulator, workspace: &str) -> String {
    format!("{}/v1/workspaces/{workspace}/query", emu.base_url())
}

async fn post_query(
    emu: &azure_emulator::RunningEmulator,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = common::http()
        .post(query_url(emu, LA_WORKSPACE))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the emulator answers");
    let status = r.status().as_u16();
    let json = r.json::<serde_json::Value>().await.expect("a JSON body");
    (status, json)
}

/// One row a second for 10 minutes from the manual clock's start, for `my-ep`: every fourth
/// on green, every 25th a 503.
fn recent_rows() -> Vec<common::TestRow<'static>> {
    (0..600u32)
        .map(|i| {
            let dep = if i % 4 == 0 { "green" } else { "blue" };
            let code = if i % 25 == 0 { 503 } else { 200 };
            (f64::from(i), dep, code, code, 20 + (i * 7) % 180)
        })
        .collect()
}

#[tokio::test]
async fn http_query_answers_typed_tables_with_timespan_and_ingestion_delay() {
    let emu = common::start_emulator(None, common::manual_clock()).await;
    let start = emu.state.now();
    common::append_rows(&emu, start, &recent_rows());
    // Rows cover [start, start + 600 s); move to start + 630 s: with the default 60 s
    // ingestion delay, rows up to start + 570 s are visible.
    assert!(emu.state.clock.advance(time::Duration::seconds(630)));
    let token = la_token(&emu).await;
    let query = "AmlOnlineEndpointTrafficLog
        | summarize requests = count(), p95 = percentile(TotalDurationMs, 95),
            errors = countif(ResponseCode >= 500), first = min(TimeGenerated)
          by DeploymentName | order by DeploymentName asc";
    let (status, body) = post_query(&emu, &token, serde_json::json!({ "query": query })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("error").is_none(), "{body}");
    let table = &body["tables"][0];
    assert_eq!(table["name"], "PrimaryResult");
    assert_eq!(
        table["columns"],
        serde_json::json!([
            {"name": "DeploymentName", "type": "string"},
            {"name": "requests", "type": "long"},
            {"name": "p95", "type": "long"},
            {"name": "errors", "type": "long"},
            {"name": "first", "type": "datetime"},
        ])
    );
    let visible: Vec<common::TestRow<'_>> =
        recent_rows().into_iter().filter(|r| r.0 <= 570.0).collect();
    for (i, dep) in ["blue", "green"].into_iter().enumerate() {
        let mine: Vec<&common::TestRow<'_>> = visible.iter().filter(|r| r.1 == dep).collect();
        let row = &table["rows"][i];
        assert_eq!(row[0], dep);
        assert_eq!(row[1], serde_json::json!(mine.len()));
        let p95 = nearest_rank(mine.iter().map(|r| r.4).collect(), 95.0);
        assert_eq!(row[2], serde_json::json!(p95));
        let errors = mine.iter().filter(|r| r.2 >= 500).count();
        assert_eq!(row[3], serde_json::json!(errors));
    }
    assert_eq!(table["rows"][0][4], "2026-01-01T00:00:01.0000000Z");
    assert_eq!(table["rows"][1][4], "2026-01-01T00:00:00.0000000Z");

    // timespan PT2M ends now (start + 630 s): [510 s, 630 s), of which up to 570 s is ingested.
    let (status, body) = post_query(
        &emu,
        &token,
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | count", "timespan": "PT2M"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tables"][0]["rows"][0][0], 61);
    // An explicit interval, and the GET form.
    let r = common::http()
        .get(query_url(&emu, LA_WORKSPACE))
        .bearer_auth(&token)
        .query(&[
            ("query", "AmlOnlineEndpointTrafficLog | count"),
            ("timespan", "2026-01-01T00:00:00Z/2026-01-01T00:01:00Z"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["tables"][0]["rows"][0][0], 60);

    // More time passes: the rest becomes visible.
    assert!(emu.state.clock.advance(time::Duration::seconds(60)));
    let (_, body) = post_query(
        &emu,
        &token,
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | count"}),
    )
    .await;
    assert_eq!(body["tables"][0]["rows"][0][0], 600);
}

#[tokio::test]
async fn http_errors_use_the_log_analytics_shape() {
    let emu = common::start_emulator(None, common::manual_clock()).await;
    let start = emu.state.now();
    common::append_rows(&emu, start, &recent_rows());
    let token = la_token(&emu).await;

    let (status, body) = post_query(
        &emu,
        &token,
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | where (TotalDurationMs > 1"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "BadArgumentError");
    assert_eq!(body["error"]["innererror"]["code"], "SyntaxError");
    assert!(body["error"]["correlationId"].is_string());
    let msg = body["error"]["innererror"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(msg.contains("line [1,"), "{msg}");

    let (status, body) = post_query(
        &emu,
        &token,
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | join (AmlOnlineEndpointTrafficLog) on XRequestId"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["innererror"]["code"], "SemanticError");
    assert!(
        body["error"]["innererror"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("operator 'join' is not supported by the emulator's KQL subset"),
        "{body}"
    );

    // Bad JSON, missing query, bad timespan.
    let r = common::http()
        .post(query_url(&emu, LA_WORKSPACE))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "BadArgumentError");
    let (status, body) = post_query(&emu, &token, serde_json::json!({"timespan": "PT1H"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BadArgumentError");
    let (status, _) = post_query(
        &emu,
        &token,
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | count", "timespan": "P1M"}),
    )
    .await;
    assert_eq!(status, 400);

    // Unknown workspace.
    let r = common::http()
        .post(query_url(&emu, OTHER_WORKSPACE))
        .bearer_auth(&token)
        .json(&serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | count"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "WorkspaceNotFoundError");

    // No token: the auth layer answers in this API's shape.
    let r = common::http()
        .post(query_url(&emu, LA_WORKSPACE))
        .json(&serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | count"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["correlationId"].is_string(), "{body}");
}

#[tokio::test]
async fn http_faults_answer_errors_timeouts_and_partial_results() {
    let emu = common::start_emulator(None, common::manual_clock()).await;
    let start = emu.state.now();
    common::append_rows(&emu, start, &recent_rows());
    assert!(emu.state.clock.advance(time::Duration::seconds(3600)));
    let token = la_token(&emu).await;
    let rows_query =
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | project TotalDurationMs"});

    emu.state
        .inject_fault(&Fault::LogAnalyticsError {
            status: 503,
            count: 1,
        })
        .expect("queues");
    let (status, body) = post_query(&emu, &token, rows_query.clone()).await;
    assert_eq!(status, 503);
    assert!(body["error"]["code"].is_string(), "{body}");

    emu.state
        .inject_fault(&Fault::LogAnalyticsTimeout {
            count: 1,
            delay_ms: 20,
        })
        .expect("queues");
    let (status, body) = post_query(&emu, &token, rows_query.clone()).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"]["code"], "GatewayTimeout");

    emu.state
        .inject_fault(&Fault::LogAnalyticsPartial { count: 1 })
        .expect("queues");
    let (status, body) = post_query(&emu, &token, rows_query.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], "PartialError", "{body}");
    assert_eq!(
        body["tables"][0]["rows"].as_array().map(Vec::len),
        Some(300)
    );

    // The faults were one-shot: the next query is whole.
    let (status, body) = post_query(&emu, &token, rows_query).await;
    assert_eq!(status, 200);
    assert!(body.get("error").is_none());
    assert_eq!(
        body["tables"][0]["rows"].as_array().map(Vec::len),
        Some(600)
    );
}

#[tokio::test]
async fn http_result_over_the_row_limit_is_partial() {
    let emu = common::start_emulator(
        None,
        Clock::manual(time::macros::datetime!(2026-01-01 00:00 UTC)),
    )
    .await;
    let start = emu.state.now();
    let rows: Vec<common::TestRow<'static>> = (0..500_010)
        .map(|i| (f64::from(i) * 0.001, "blue", 200, 200, 10))
        .collect();
    common::append_rows(&emu, start, &rows);
    assert!(emu.state.clock.advance(time::Duration::seconds(3600)));
    let token = la_token(&emu).await;
    let (status, body) = post_query(
        &emu,
        &token,
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | project TotalDurationMs"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], "PartialError");
    assert_eq!(
        body["tables"][0]["rows"].as_array().map(Vec::len),
        Some(azure_emulator::loganalytics::MAX_RESULT_ROWS)
    );
    assert_eq!(
        body["tables"][0]["columns"],
        serde_json::json!([{"name": "TotalDurationMs", "type": "int"}])
    );
}
