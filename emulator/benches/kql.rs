//! KQL engine speed over 1,000,000 stored rows: the per-deployment summary the daemon runs
//! every analysis interval, and the latency-histogram query.
//!
//! `cargo bench -p azure-emulator --bench kql`

use std::hint::black_box;

use azure_emulator::kql::{self, QueryScope};
use azure_emulator::logstore::LogStore;
use azure_emulator::model::{EndpointLogContext, RequestRow};
use criterion::{Criterion, criterion_group, criterion_main};

const ROWS: usize = 1_000_000;
/// 2026-01-01T00:00:00Z in unix µs.
const T0_US: i64 = 1_767_225_600_000_000;

fn store_with_rows() -> LogStore {
    let store = LogStore::new();
    let endpoint = store.endpoint_id(EndpointLogContext {
        log_analytics_workspace_id: "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11".into(),
        endpoint_name: "my-ep".into(),
        workspace_id: "6c2d1f0e-7a3d-4e61-9c1a-2f4d6b8a0c12".into(),
        workspace_name: "ws-canary".into(),
        location: "eastus".into(),
        resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws-canary/onlineEndpoints/my-ep".into(),
        tenant_id: "0d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
    });
    let deployments = [
        store.intern("blue"),
        store.intern("green"),
        store.intern("shadow"),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let rows: Vec<RequestRow> = (0..ROWS)
        .map(|i| {
            let r = next();
            let code = if r % 100 < 3 { 503 } else { 200 };
            RequestRow {
                // 1,000 requests a second over ~17 minutes.
                time_us: T0_US + i as i64 * 1_000,
                seq: i as u64,
                mirror_of: None,
                endpoint,
                deployment: deployments[(r >> 8) as usize % 3],
                response_code: code,
                model_status_code: code,
                total_duration_ms: 20 + ((r >> 16) % 400) as u32,
                request_duration_ms: 1,
                response_duration_ms: 15,
                request_throttling_delay_ms: 0,
                response_throttling_delay_ms: 0,
                request_payload_size: 512,
                response_payload_size: 128,
            }
        })
        .collect();
    store.append(&rows);
    store
}

fn bench(c: &mut Criterion) {
    let store = store_with_rows();
    let snapshot = store.snapshot();
    let scope = QueryScope {
        now_us: T0_US + 3_600_000_000,
        workspace_id: Some("5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11".into()),
        ..QueryScope::default()
    };
    let mut group = c.benchmark_group("kql_1m_rows");
    group.sample_size(10);
    let queries = [
        (
            "per_deployment_summary",
            "AmlOnlineEndpointTrafficLog
             | summarize count(), percentile(TotalDurationMs, 99), countif(ResponseCode >= 500)
               by DeploymentName",
        ),
        (
            "documented_window_summary",
            "AmlOnlineEndpointTrafficLog
             | where TimeGenerated >= datetime(2026-01-01T00:00:00Z) and TimeGenerated < datetime(2026-01-01T00:30:00Z)
             | where EndpointName == \"my-ep\"
             | summarize requests = count(), p99 = todouble(percentile(TotalDurationMs, 99)),
                 errors5xx = countif(toint(ResponseCode) between (500 .. 599))
               by DeploymentName",
        ),
        (
            "histogram_buckets",
            "AmlOnlineEndpointTrafficLog
             | summarize n = count()
               by DeploymentName, bucket = toint(floor(log(todouble(TotalDurationMs)) / log(1.1), 1))",
        ),
    ];
    for (name, query) in queries {
        // Fail loudly (not bench an error path) if the query stops compiling.
        let check = kql::execute(query, &snapshot, &scope);
        assert!(check.is_ok(), "{name}: {check:?}");
        group.bench_function(name, |b| {
            b.iter(|| black_box(kql::execute(black_box(query), &snapshot, &scope)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
