//! `canaryd simulate --policy FILE --scenario FILE [--runs N] [--seed S] [--methods LIST]
//! [--calibrate] [--json] [--report DIR]`: Monte Carlo rollouts through the daemon's own judge
//! and state machine, the policy's judge side by side with a Kayenta-style judge, a Pocock
//! group-sequential judge and an oracle SPRT. See daemon/docs/simulate.md.
//!
//! Output: a table per scenario (text), or JSON lines (`--json`): first one object with the
//! run's parameters (`"kind": "simulation"`), then one object per (scenario, method)
//! (`"kind": "result"`). `--report DIR` also writes report.md, report.json and SVG plots.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use plotters::prelude::*;
use serde_json::json;

use crate::sim::methods::MethodKind;
use crate::sim::results::MethodResult;
use crate::sim::{SimulateOptions, Simulation, scenario, simulate};

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Policy file (YAML): its plan, failure rules and judge are simulated.
    #[arg(long)]
    pub policy: PathBuf,
    /// Scenario file (YAML) with one or more named scenarios (daemon/docs/simulate.md).
    #[arg(long)]
    pub scenario: PathBuf,
    /// Rollouts per scenario and method.
    #[arg(long, default_value_t = 500)]
    pub runs: u64,
    /// Seed; the same seed gives the same figures on any number of threads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Comma-separated methods: policy, kayenta-style, pocock, oracle.
    #[arg(long, default_value = "policy,kayenta-style,pocock,oracle")]
    pub methods: String,
    /// Also tune the Kayenta-style per-look level so that its worst false-rollback rate over the
    /// scenarios to promote (A/A, `expect: promote`) matches the policy judge's, and report it
    /// as its own row.
    #[arg(long)]
    pub calibrate: bool,
    /// JSON lines instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write report.md, report.json and SVG plots to this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Parses `--methods`.
pub fn parse_methods(list: &str) -> anyhow::Result<Vec<MethodKind>> {
    let methods = list
        .split(',')
        .filter(|m| !m.trim().is_empty())
        .map(|m| m.parse::<MethodKind>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()
        .context("--methods")?;
    if methods.is_empty() {
        bail!("--methods names no method; use e.g. --methods policy,oracle");
    }
    Ok(methods)
}

/// Runs the subcommand, printing to `out`.
pub fn run(args: &SimulateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let methods = parse_methods(&args.methods)?;
    let policy = crate::policy::load_file(&args.policy)
        .map_err(anyhow::Error::new)
        .context("loading the policy")?;
    let file = scenario::load_file(&args.scenario)
        .map_err(anyhow::Error::new)
        .context("loading the scenarios")?;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let options = SimulateOptions {
        runs: args.runs,
        seed: args.seed,
        methods,
        calibrate: args.calibrate,
        threads,
    };
    // Hidden when stderr is not a terminal.
    let bar = indicatif::ProgressBar::hidden();
    let started = std::time::Instant::now();
    let simulation = simulate(
        &policy,
        &file.scenarios,
        &options,
        &|total| {
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            bar.set_length(total);
        },
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "simulation finished"
    );
    if args.json {
        write_json_lines(&simulation, out)?;
    } else {
        write!(out, "{}", text_tables(&simulation))?;
    }
    if let Some(dir) = &args.report {
        write_report(&simulation, dir)
            .with_context(|| format!("writing the report to {}", dir.display()))?;
    }
    Ok(())
}

/// One header line, then one line per (scenario, method).
pub fn write_json_lines(simulation: &Simulation, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut header = serde_json::to_value(&simulation.summary)?;
    if let Some(map) = header.as_object_mut() {
        map.insert("kind".into(), json!("simulation"));
    }
    writeln!(out, "{header}")?;
    for result in &simulation.results {
        let mut line = serde_json::to_value(result)?;
        if let Some(map) = line.as_object_mut() {
            map.insert("kind".into(), json!("result"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn oracle_of<'a>(simulation: &'a Simulation, scenario: &str) -> Option<&'a MethodResult> {
    simulation
        .results
        .iter()
        .find(|r| r.scenario == scenario && r.method == MethodKind::Oracle.label())
}

/// "12.0 (1.5×)": a figure and its ratio to the oracle's.
fn with_ratio(value: Option<f64>, oracle: Option<f64>, digits: usize) -> String {
    match (value, oracle) {
        (Some(v), Some(o)) if o > 0.0 => format!("{v:.digits$} ({:.2}×)", v / o),
        (Some(v), _) => format!("{v:.digits$}"),
        (None, _) => "–".into(),
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{:.2}%", v * 100.0))
}

fn false_rollbacks(result: &MethodResult) -> String {
    match (result.false_rollback_rate, result.false_rollback_ci) {
        (Some(rate), Some([low, high])) => format!(
            "{:.2}% [{:.2}, {:.2}]",
            rate * 100.0,
            low * 100.0,
            high * 100.0
        ),
        _ => "–".into(),
    }
}

const COLUMNS: [&str; 11] = [
    "method",
    "promoted / judge rb / other rb / unfinished",
    "false rollbacks [95% CI]",
    "detected",
    "median min to detect (× oracle)",
    "p90 min to detect",
    "median canary req. at detection (× oracle)",
    "median bad req. (× oracle)",
    "median min to promote (× oracle)",
    "p90 min to promote",
    "level per look",
];

fn row(result: &MethodResult, oracle: Option<&MethodResult>) -> [String; 11] {
    let o = |f: fn(&MethodResult) -> Option<f64>| oracle.and_then(f);
    [
        result.method.clone(),
        format!(
            "{} / {} / {} / {}",
            result.promoted,
            result.rolled_back_by_judge,
            result.rolled_back_other,
            result.unfinished
        ),
        false_rollbacks(result),
        percent(result.detection_rate),
        with_ratio(
            result.median_detection_minutes,
            o(|r| r.median_detection_minutes),
            1,
        ),
        result
            .p90_detection_minutes
            .map_or("–".into(), |v| format!("{v:.1}")),
        with_ratio(
            result.median_detection_canary_requests,
            o(|r| r.median_detection_canary_requests),
            0,
        ),
        with_ratio(result.median_bad_requests, o(|r| r.median_bad_requests), 0),
        with_ratio(
            result.median_promotion_minutes,
            o(|r| r.median_promotion_minutes),
            1,
        ),
        result
            .p90_promotion_minutes
            .map_or("–".into(), |v| format!("{v:.1}")),
        result.level.map_or("–".into(), |v| format!("{v:.2e}")),
    ]
}

fn scenario_names(simulation: &Simulation) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for result in &simulation.results {
        if !names.contains(&result.scenario) {
            names.push(result.scenario.clone());
        }
    }
    names
}

fn parameters_line(simulation: &Simulation) -> String {
    let s = &simulation.summary;
    let calibrated = s
        .calibrated_kayenta_level
        .map(|a| {
            let target = s.calibration_target_rollbacks.unwrap_or(0);
            format!(
                "; calibrated Kayenta-style level a = {a:.3e} (at most {target} false rollbacks in {} runs on every scenario to promote, as the policy judge's worst)",
                s.runs
            )
        })
        .unwrap_or_default();
    format!(
        "policy {} (α = {}, {} checks), {} runs per scenario and method, seed {}; Kayenta-style a = {} per look (Bonferroni over checks){calibrated}; Pocock: {} planned looks at {:.3e} per look and check; oracle: SPRT with α = {}, β = 0.2",
        s.policy,
        s.alpha,
        s.checks,
        s.runs,
        s.seed,
        s.kayenta_level,
        s.pocock_looks,
        s.pocock_level,
        s.alpha
    )
}

/// A plain-text table per scenario.
pub fn text_tables(simulation: &Simulation) -> String {
    let mut text = format!("{}\n", parameters_line(simulation));
    for name in scenario_names(simulation) {
        let oracle = oracle_of(simulation, &name);
        let rows: Vec<[String; 11]> = simulation
            .results
            .iter()
            .filter(|r| r.scenario == name)
            .map(|r| row(r, oracle))
            .collect();
        let first = simulation.results.iter().find(|r| r.scenario == name);
        let kind = match first {
            None => "",
            Some(r) if r.aa => " (A/A)",
            Some(r) if r.acceptable => " (to promote: within the margins)",
            Some(_) => " (regression)",
        };
        text.push_str(&format!("\nscenario {name}{kind}\n"));
        let widths: Vec<usize> = (0..COLUMNS.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([COLUMNS[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("  {}\n", padded.join("  ").trim_end())
        };
        text.push_str(&line(&COLUMNS.map(String::from)));
        for r in &rows {
            text.push_str(&line(r));
        }
    }
    text
}

/// Markdown: the parameters, then one table with a row per (scenario, method).
pub fn markdown_table(simulation: &Simulation) -> String {
    let mut md = format!("{}\n\n", parameters_line(simulation));
    md.push_str(&format!("| scenario | {} |\n", COLUMNS.join(" | ")));
    md.push_str(&format!("|{}\n", "---|".repeat(COLUMNS.len() + 1)));
    for result in &simulation.results {
        let cells = row(result, oracle_of(simulation, &result.scenario));
        md.push_str(&format!(
            "| {} | {} |\n",
            result.scenario,
            cells.join(" | ")
        ));
    }
    md
}

/// report.md, report.json and the plots.
pub fn write_report(simulation: &Simulation, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut md = String::from("# canaryd simulate report\n\n");
    md.push_str(&markdown_table(simulation));
    let mut plots = Vec::new();
    for name in scenario_names(simulation) {
        let rows: Vec<&MethodResult> = simulation
            .results
            .iter()
            .filter(|r| r.scenario == name && !r.detection_minutes.is_empty())
            .collect();
        if rows.is_empty() {
            continue;
        }
        let file = format!("detection-{}.svg", file_safe(&name));
        plot_detection_times(&dir.join(&file), &name, &rows)?;
        plots.push(file);
    }
    let acceptable: Vec<&MethodResult> =
        simulation.results.iter().filter(|r| r.acceptable).collect();
    if !acceptable.is_empty() {
        let file = "false-rollbacks-by-look.svg".to_string();
        plot_false_rollbacks_by_look(&dir.join(&file), &acceptable)?;
        plots.push(file);
    }
    md.push_str("\n## Plots\n\n");
    for plot in &plots {
        md.push_str(&format!("![{plot}]({plot})\n\n"));
    }
    std::fs::write(dir.join("report.md"), md)?;
    let results: Vec<serde_json::Value> = simulation
        .results
        .iter()
        .map(|r| {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("detection_minutes".into(), json!(r.detection_minutes));
                map.insert("rollback_looks".into(), json!(r.rollback_looks));
            }
            value
        })
        .collect();
    let report = json!({ "summary": simulation.summary, "results": results });
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {error}")
}

/// Empirical CDF of the time to detect, one line per method: the share of runs rolled back by
/// the judge within x minutes of onset.
fn plot_detection_times(path: &Path, scenario: &str, rows: &[&MethodResult]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let max_x = rows
        .iter()
        .flat_map(|r| r.detection_minutes.iter().copied())
        .fold(1.0_f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{scenario}: share of runs detected within x minutes of onset"),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("minutes after onset")
        .y_desc("share of runs")
        .draw()
        .map_err(plot_error)?;
    for (i, result) in rows.iter().enumerate() {
        let mut times = result.detection_minutes.clone();
        times.sort_by(f64::total_cmp);
        let runs = result.runs.max(1) as f64;
        let mut points = vec![(0.0, 0.0)];
        for (k, t) in times.iter().enumerate() {
            points.push((*t, k as f64 / runs));
            points.push((*t, (k + 1) as f64 / runs));
        }
        points.push((max_x * 1.05, times.len() as f64 / runs));
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_error)?
            .label(result.method.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Cumulative false-rollback rate by look index, per method (scenarios to promote pooled).
fn plot_false_rollbacks_by_look(path: &Path, rows: &[&MethodResult]) -> anyhow::Result<()> {
    let mut methods: Vec<String> = Vec::new();
    for r in rows {
        if !methods.contains(&r.method) {
            methods.push(r.method.clone());
        }
    }
    let max_look = rows
        .iter()
        .flat_map(|r| r.rollback_looks.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let curves: Vec<(String, Vec<(f64, f64)>)> = methods
        .iter()
        .map(|method| {
            let mine: Vec<&&MethodResult> = rows.iter().filter(|r| &r.method == method).collect();
            let runs: u64 = mine.iter().map(|r| r.runs).sum();
            let mut counts = vec![0u64; max_look + 1];
            for look in mine.iter().flat_map(|r| r.rollback_looks.iter()) {
                counts[*look] += 1;
            }
            let mut cumulative = 0u64;
            let points = (1..=max_look)
                .map(|look| {
                    cumulative += counts[look];
                    (look as f64, cumulative as f64 / runs.max(1) as f64)
                })
                .collect();
            (method.clone(), points)
        })
        .collect();
    let max_y = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.01_f64, f64::max);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Canaries to promote: cumulative false-rollback rate by look",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1.0..max_look as f64, 0.0..max_y * 1.1)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("look (interval) index")
        .y_desc("share of runs rolled back")
        .draw()
        .map_err(plot_error)?;
    for (i, (method, points)) in curves.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_error)?
            .label(method)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}
