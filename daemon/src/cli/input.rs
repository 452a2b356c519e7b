//! Request samples from files: CSV with a header (`latency_ms`, optional `status_code`,
//! `model_status_code`; other columns are ignored) or JSON lines with the same fields.
//! The format is taken from the extension (`.csv`; `.jsonl`, `.ndjson`, `.json`) or, failing
//! that, from the content (a first non-blank character `{` means JSON lines).
//! Every problem names the file, the line and the field.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::judge::observation::RequestSample;

/// A sample file that cannot be used.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: field `{field}`: {message}")]
    Field {
        path: PathBuf,
        line: u64,
        field: String,
        message: String,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The two accepted formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    Csv,
    JsonLines,
}

/// Picks the format from the extension, then from the content.
pub fn detect_format(path: &Path, text: &str) -> SampleFormat {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => SampleFormat::Csv,
        Some("jsonl" | "ndjson" | "json") => SampleFormat::JsonLines,
        _ if text.trim_start().starts_with('{') => SampleFormat::JsonLines,
        _ => SampleFormat::Csv,
    }
}

/// Reads and parses a sample file.
pub fn read_samples(path: &Path) -> Result<Vec<RequestSample>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_samples(path, &text)
}

/// Parses sample text; `path` is used for the format and for messages.
pub fn parse_samples(path: &Path, text: &str) -> Result<Vec<RequestSample>, InputError> {
    let samples = match detect_format(path, text) {
        SampleFormat::Csv => parse_csv(path, text)?,
        SampleFormat::JsonLines => parse_json_lines(path, text)?,
    };
    if samples.is_empty() {
        return Err(InputError::File {
            path: path.to_path_buf(),
            message: "no requests in the file".to_string(),
        });
    }
    Ok(samples)
}

fn field_error(path: &Path, line: u64, field: &str, message: impl Into<String>) -> InputError {
    InputError::Field {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message: message.into(),
    }
}

fn parse_latency(path: &Path, line: u64, text: &str) -> Result<f64, InputError> {
    let value: f64 = text.trim().parse().map_err(|_| {
        field_error(
            path,
            line,
            "latency_ms",
            format!("'{text}' is not a number"),
        )
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(field_error(
            path,
            line,
            "latency_ms",
            format!("{value} is not a finite, non-negative number of milliseconds"),
        ));
    }
    Ok(value)
}

fn parse_status(
    path: &Path,
    line: u64,
    field: &str,
    text: &str,
) -> Result<Option<u16>, InputError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(code) if (100..=599).contains(&code) => Ok(Some(code)),
        _ => Err(field_error(
            path,
            line,
            field,
            format!("'{text}' is not an HTTP status code (100-599)"),
        )),
    }
}

fn parse_csv(path: &Path, text: &str) -> Result<Vec<RequestSample>, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| InputError::Line {
            path: path.to_path_buf(),
            line: 1,
            message: format!("cannot read the header: {error}"),
        })?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let latency = column("latency_ms").ok_or_else(|| InputError::Line {
        path: path.to_path_buf(),
        line: 1,
        message: format!(
            "the header has no `latency_ms` column (found: {})",
            headers.iter().collect::<Vec<_>>().join(", ")
        ),
    })?;
    let status = column("status_code");
    let model_status = column("model_status_code");
    let mut samples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| InputError::Line {
            path: path.to_path_buf(),
            line: error.position().map(|p| p.line()).unwrap_or(0),
            message: error.to_string(),
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let get = |index: Option<usize>| index.and_then(|i| record.get(i)).unwrap_or("");
        samples.push(RequestSample {
            latency_ms: parse_latency(path, line, get(Some(latency)))?,
            status_code: parse_status(path, line, "status_code", get(status))?,
            model_status_code: parse_status(path, line, "model_status_code", get(model_status))?,
        });
    }
    Ok(samples)
}

fn parse_json_lines(path: &Path, text: &str) -> Result<Vec<RequestSample>, InputError> {
    let mut samples = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|error| InputError::Line {
                path: path.to_path_buf(),
                line,
                message: format!("not valid JSON: {error}"),
            })?;
        let object = value.as_object().ok_or_else(|| InputError::Line {
            path: path.to_path_buf(),
            line,
            message: "expected a JSON object per line".to_string(),
        })?;
        let latency = match object.get("latency_ms") {
            Some(serde_json::Value::Number(number)) => number
                .as_f64()
                .ok_or_else(|| field_error(path, line, "latency_ms", "not a number"))?,
            Some(serde_json::Value::String(text)) => parse_latency(path, line, text)?,
            Some(other) => {
                return Err(field_error(
                    path,
                    line,
                    "latency_ms",
                    format!("{other} is not a number"),
                ));
            }
            None => return Err(field_error(path, line, "latency_ms", "missing")),
        };
        let latency = parse_latency(path, line, &latency.to_string())?;
        let status = |field: &str| match object.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(number)) => {
                parse_status(path, line, field, &number.to_string())
            }
            Some(serde_json::Value::String(text)) => parse_status(path, line, field, text),
            Some(other) => Err(field_error(
                path,
                line,
                field,
                format!("{other} is not a status code"),
            )),
        };
        samples.push(RequestSample {
            latency_ms: latency,
            status_code: status("status_code")?,
            model_status_code: status("model_status_code")?,
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_optional_columns() {
        let text = "timestamp,latency_ms,status_code\n1,12.5,200\n2,30,503\n3,7,\n";
        let samples = parse_samples(Path::new("a.csv"), text).expect("valid");
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[1].status_code, Some(503));
        assert_eq!(samples[2].status_code, None);
        assert_eq!(samples[0].model_status_code, None);
    }

    #[test]
    fn csv_errors_name_line_and_field() {
        let error = parse_samples(
            Path::new("a.csv"),
            "latency_ms,status_code\n1,200\nfast,200\n",
        )
        .expect_err("bad");
        let message = error.to_string();
        assert!(
            message.contains("a.csv:3") && message.contains("latency_ms"),
            "{message}"
        );
        let error = parse_samples(Path::new("a.csv"), "latency_ms,status_code\n1,200\n2,999\n")
            .expect_err("bad");
        assert!(
            error.to_string().contains("a.csv:3: field `status_code`"),
            "{error}"
        );
        let error = parse_samples(Path::new("a.csv"), "latency,status\n1,200\n").expect_err("bad");
        assert!(error.to_string().contains("no `latency_ms`"), "{error}");
        let error = parse_samples(Path::new("a.csv"), "latency_ms,status_code\n1,200,5\n")
            .expect_err("bad");
        assert!(error.to_string().contains("a.csv:2"), "{error}");
    }

    #[test]
    fn json_lines_detected_by_content() {
        let text = "{\"latency_ms\": 10, \"status_code\": 200}\n\n{\"latency_ms\": \"11.5\", \"model_status_code\": 500}\n";
        let samples = parse_samples(Path::new("samples.txt"), text).expect("valid");
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[1].model_status_code, Some(500));
        let error = parse_samples(
            Path::new("s.jsonl"),
            "{\"latency_ms\": 1}\n{\"latency_ms\": -3}\n",
        )
        .expect_err("bad");
        assert!(
            error.to_string().contains("s.jsonl:2: field `latency_ms`"),
            "{error}"
        );
        let error =
            parse_samples(Path::new("s.jsonl"), "{\"latency_ms\": 1}\n{oops\n").expect_err("bad");
        assert!(error.to_string().contains("s.jsonl:2"), "{error}");
    }

    #[test]
    fn empty_files_are_errors() {
        assert!(parse_samples(Path::new("e.csv"), "latency_ms\n").is_err());
    }
}
