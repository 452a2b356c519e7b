//! The status page in headless Chromium: served by the real router (behind a read-token check
//! like the daemon's) over a store seeded with a real rollout; the rendered DOM must hold the
//! charts with one point per interval and every decision, and a screenshot must show the
//! canary and baseline series colours inside each chart. The evidence report must render the
//! same from a file, with no server.
//!
//! Without Chromium the tests print "skipped: chromium not found", unless
//! `CANARYD_TEST_REQUIRE_CHROMIUM=1` (CI), where they fail.

#[path = "ui/seed.rs"]
mod seed;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use canaryd::store::Store;

const TOKEN: &str = "read-t0ken";
/// The page's series colours (`--canary`, `--baseline` in style.css).
const CANARY_RGB: [u8; 3] = [0xe8, 0x59, 0x0c];
const BASELINE_RGB: [u8; 3] = [0x18, 0x64, 0xab];
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let unique = format!(
            "canaryd-ui-browser-{name}-{}-{}",
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

/// Chromium's path, or None (and the test is skipped) unless CI requires it.
fn chromium() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("/usr/bin/chromium"),
        PathBuf::from("/usr/bin/chromium-browser"),
    ];
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let found = candidates.into_iter().chain(on_path).find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CANARYD_TEST_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
            panic!(
                "chromium not found (looked at /usr/bin/chromium and on PATH) but CANARYD_TEST_REQUIRE_CHROMIUM=1; install it: apt-get install -y chromium"
            );
        }
        println!("skipped: chromium not found");
    }
    found
}

/// Runs headless Chromium with the given extra arguments on `url`; returns its stdout.
fn run_chromium(browser: &Path, profile: &Path, extra: &[String], url: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1280,1600",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read stdout on a thread so a large DOM cannot fill the pipe while we wait.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let error_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium status") {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?} on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    let err = error_reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed ({status}) on {url}: {err}"
    );
    out
}

/// The seeded store behind the status router, behind a read-token check; returns the base URL.
fn serve(runtime: &tokio::runtime::Runtime, store: Arc<Store>) -> String {
    async fn require_token(request: Request, next: Next) -> Response {
        let authorized = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair == format!("token={TOKEN}")));
        if authorized {
            next.run(request).await
        } else {
            (StatusCode::UNAUTHORIZED, "read token required").into_response()
        }
    }
    let app = canaryd::ui::router(store).layer(middleware::from_fn(require_token));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The `data-box` (x, y, width, height in CSS pixels) of the chart `id` in the dumped DOM.
fn chart_box(dom: &str, id: &str) -> (u32, u32, u32, u32) {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("chart {id} missing from the DOM"));
    let tag_end = at + dom[at..].find('>').expect("end of the svg tag");
    let tag = &dom[at..tag_end];
    let start = tag.find("data-box=\"").expect("data-box on the chart") + "data-box=\"".len();
    let value = &tag[start..start + tag[start..].find('"').expect("end of data-box")];
    let numbers: Vec<u32> = value
        .split(',')
        .map(|n| n.trim().parse::<f64>().expect("a number").max(0.0) as u32)
        .collect();
    assert_eq!(numbers.len(), 4, "data-box {value:?}");
    (numbers[0], numbers[1], numbers[2], numbers[3])
}

struct Screenshot {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

fn decode_png(path: &Path) -> Screenshot {
    let file = std::fs::File::open(path).expect("screenshot written");
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit screenshot");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let rgb = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Screenshot {
        width: info.width,
        height: info.height,
        rgb,
    }
}

/// Pixels inside the box within `tolerance` (per channel) of `colour`.
fn colour_pixels(shot: &Screenshot, area: (u32, u32, u32, u32), colour: [u8; 3]) -> usize {
    let (x0, y0, w, h) = area;
    let mut n = 0;
    for y in y0..(y0 + h).min(shot.height) {
        for x in x0..(x0 + w).min(shot.width) {
            let pixel = shot.rgb[(y * shot.width + x) as usize];
            if pixel.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 24) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn the_rollout_page_renders_charts_and_decisions_in_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let seeded = seed::seed(&store);
    let intervals = seeded.figures.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let base = serve(&runtime, store.clone());
    let url = format!(
        "{base}/rollouts/{}?token={TOKEN}",
        canaryd::ui::percent_encode(&seeded.rollout_id)
    );
    let dir = TempDir::new("page");

    // The rendered DOM: charts with one point per interval and series, and every decision.
    let dom = run_chromium(
        &browser,
        &dir.0.join("profile-dom"),
        &["--dump-dom".to_string()],
        &url,
    );
    assert!(
        dom.contains(r#"data-rendered="rollout""#),
        "the page did not render (data request failed?): {dom}"
    );
    // One point per interval in which the arm has the figure (no baseline figures once the
    // canary serves everything).
    let expected = |arm: fn(&canaryd::runner::WindowFigures) -> canaryd::runner::ArmFigures,
                    figure: fn(&canaryd::runner::ArmFigures) -> Option<f64>| {
        seeded
            .figures
            .iter()
            .filter(|f| arm(f).requests > 0 && figure(&arm(f)).is_some())
            .count()
    };
    let canary = |f: &canaryd::runner::WindowFigures| f.canary;
    let baseline = |f: &canaryd::runner::WindowFigures| f.baseline;
    for (series, want) in [
        ("canary-p50", expected(canary, |a| a.p50_ms)),
        ("baseline-p50", expected(baseline, |a| a.p50_ms)),
        ("canary-p99", expected(canary, |a| a.p99_ms)),
        ("baseline-p99", expected(baseline, |a| a.p99_ms)),
        ("canary-errors", expected(canary, |a| a.error_rate)),
        ("baseline-errors", expected(baseline, |a| a.error_rate)),
    ] {
        assert!(want >= 5, "{series}: the seed has {want} windows with data");
        assert_eq!(
            count(&dom, &format!("data-point=\"{series}\"")),
            want,
            "points of {series}"
        );
    }
    assert!(dom.contains("id=\"chart-latency\""));
    assert!(dom.contains(&format!(r#"data-points="{intervals}""#)));
    // The traffic step line: 0 → 10% → 50% → 0 and the closing point.
    assert!(dom.contains(r#"data-points="5""#), "traffic points");
    assert!(dom.contains(r#"data-series="canary-traffic""#));
    assert_eq!(count(&dom, "<article class=\"decision"), seeded.entries);
    assert!(
        count(&dom, r#"data-kind="roll back""#) >= 2,
        "rollback marker and decision"
    );
    assert!(dom.contains(&seeded.rollout_id));
    assert!(dom.contains("canary regressed"));
    assert!(dom.contains(r#"data-check="latency_shift""#));

    // The screenshot: each chart region holds both series colours in quantity (a line across
    // the chart is thousands of pixels; the legend alone is under a hundred).
    let shot_path = dir.0.join("page.png");
    run_chromium(
        &browser,
        &dir.0.join("profile-shot"),
        &[format!("--screenshot={}", shot_path.display())],
        &url,
    );
    if let Ok(keep) = std::env::var("CANARYD_TEST_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot_path, keep);
    }
    let shot = decode_png(&shot_path);
    assert_eq!((shot.width, shot.height), (1280, 1600));
    for (chart, minimum) in [
        ("chart-traffic", 600),
        ("chart-latency", 600),
        ("chart-errors", 600),
    ] {
        let area = chart_box(&dom, chart);
        assert!(
            area.1 + area.3 <= shot.height && area.2 >= 600,
            "{chart} at {area:?} is not within the 1280×1600 screenshot"
        );
        let canary = colour_pixels(&shot, area, CANARY_RGB);
        let baseline = colour_pixels(&shot, area, BASELINE_RGB);
        println!("{chart}: {canary} canary and {baseline} baseline pixels");
        assert!(
            canary >= minimum && baseline >= minimum,
            "{chart} at {area:?}: {canary} canary and {baseline} baseline pixels, want ≥ {minimum} each"
        );
    }
    // Outside the charts (the page's top band) the series colours do not appear in quantity,
    // so the counts above come from the charts.
    let header = (0, 0, 1280, 40);
    assert!(colour_pixels(&shot, header, CANARY_RGB) < 50);
}

/// The negative control of the colour check: a rollout with no judged window yet has empty
/// interval charts, and their regions do not reach the threshold on legend pixels alone.
#[test]
fn charts_without_intervals_have_no_series_pixels() {
    let Some(browser) = chromium() else {
        return;
    };
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let rollout_id = seed::seed_just_started(&store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let base = serve(&runtime, store);
    let url = format!(
        "{base}/rollouts/{}?token={TOKEN}",
        canaryd::ui::percent_encode(&rollout_id)
    );
    let dir = TempDir::new("empty");
    let dom = run_chromium(
        &browser,
        &dir.0.join("profile-dom"),
        &["--dump-dom".to_string()],
        &url,
    );
    assert!(dom.contains(r#"data-rendered="rollout""#), "{dom}");
    assert_eq!(count(&dom, "data-point="), 0);
    assert!(dom.contains("No judged interval yet"));
    let shot_path = dir.0.join("empty.png");
    run_chromium(
        &browser,
        &dir.0.join("profile-shot"),
        &[format!("--screenshot={}", shot_path.display())],
        &url,
    );
    let shot = decode_png(&shot_path);
    for chart in ["chart-latency", "chart-errors"] {
        let area = chart_box(&dom, chart);
        let canary = colour_pixels(&shot, area, CANARY_RGB);
        let baseline = colour_pixels(&shot, area, BASELINE_RGB);
        println!("{chart} without data: {canary} canary and {baseline} baseline pixels");
        assert!(
            canary < 400 && baseline < 400,
            "{chart}: {canary} canary and {baseline} baseline pixels without any data"
        );
    }
}

#[test]
fn the_list_page_links_every_rollout_in_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let seeded = seed::seed(&store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let base = serve(&runtime, store);
    let dir = TempDir::new("list");
    let dom = run_chromium(
        &browser,
        &dir.0.join("profile"),
        &["--dump-dom".to_string()],
        &format!("{base}/?token={TOKEN}"),
    );
    assert!(dom.contains(r#"data-rendered="list""#), "{dom}");
    assert_eq!(count(&dom, "<tr data-rollout="), 1);
    let link = format!(
        "href=\"rollouts/{}?token={TOKEN}\"",
        canaryd::ui::percent_encode(&seeded.rollout_id)
    );
    assert!(dom.contains(&link), "{link} missing: {dom}");
    assert!(dom.contains("rolled back"));
}

#[test]
fn the_report_renders_from_a_file_without_a_server() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = TempDir::new("report");
    let db = dir.0.join("state.db");
    let policies = dir.0.join("policies");
    std::fs::create_dir_all(&policies).expect("policies dir");
    std::fs::write(policies.join(seed::POLICY_FILE_NAME), seed::POLICY_YAML).expect("policy");
    let seeded = seed::seed(&Store::open(&db).expect("store"));
    let out = dir.0.join("report.html");
    canaryd::cli::report::run(&canaryd::cli::report::ReportArgs {
        rollout: seeded.rollout_id.clone(),
        out: out.clone(),
        config: None,
        state_db: Some(db),
        policies_dir: Some(policies),
    })
    .expect("report");
    let dom = run_chromium(
        &browser,
        &dir.0.join("profile"),
        &["--dump-dom".to_string()],
        &format!("file://{}", out.display()),
    );
    assert!(dom.contains(r#"data-rendered="rollout""#), "{dom}");
    assert_eq!(
        count(&dom, r#"data-point="canary-p99""#),
        seeded.figures.len()
    );
    assert!(dom.contains(r#"id="policy-text""#));
    assert!(dom.contains("workspace_id: 5b1c0f0e"));
    assert_eq!(count(&dom, "<article class=\"decision"), seeded.entries);
}
