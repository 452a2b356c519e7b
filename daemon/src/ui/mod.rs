//! The status page: an HTML list of rollouts and a page per rollout (traffic over time,
//! canary vs baseline figures per interval, every decision with its explanation), drawn by a
//! small script from the JSON routes. The assets are compiled into the binary; no front-end
//! build step and nothing loaded from the internet. See daemon/docs/ui.md.
//!
//! Routes (state applied; the server mounts them behind the read token, which the page passes
//! on from its own `?token=` to every request it makes):
//!
//! * `GET /`, `GET /rollouts/{id}`: the pages (ids contain slashes: encoded or not);
//! * `GET /assets/{file}`: the stylesheet and the script;
//! * `GET /ui/data/rollouts`, `GET /ui/data/rollouts/{id}`: the data, as JSON.

pub mod timeline;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::store::Store;
use timeline::TimelineError;

/// The page's stylesheet.
pub const STYLE_CSS: &str = include_str!("assets/style.css");
/// The page's script: renders the list or one rollout from the JSON (or embedded) data.
pub const APP_JS: &str = include_str!("assets/app.js");

/// The status page's routes, with the store applied as state.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/", get(list_page))
        // Rollout ids contain slashes (`rg/ws/endpoint/canary@time`): taken whole, whether
        // the client encoded them or not.
        .route("/rollouts/{*id}", get(rollout_page))
        .route("/assets/{file}", get(asset))
        .route("/ui/data/rollouts", get(list_data))
        .route("/ui/data/rollouts/{*id}", get(rollout_data))
        .with_state(store)
}

#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn list_page(Query(query): Query<TokenQuery>) -> Html<String> {
    Html(page_html(&PageSpec {
        title: "canaryd: rollouts",
        kind: PageKind::List,
        assets: Assets::Linked {
            base: "",
            token: query.token.as_deref(),
        },
        embedded_json: None,
    }))
}

async fn rollout_page(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
    Query(query): Query<TokenQuery>,
    uri: Uri,
) -> Response {
    // Relative links lead back to the router's root however many segments the id took.
    let base = "../".repeat(uri.path().matches('/').count().saturating_sub(1));
    let lookup = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || store.rollout(&id)).await
    };
    let status = match lookup {
        Ok(Ok(Some(_))) => StatusCode::OK,
        Ok(Ok(None)) => StatusCode::NOT_FOUND,
        Ok(Err(error)) => return internal_error(&error.to_string()),
        Err(error) => return internal_error(&error.to_string()),
    };
    let title = format!("canaryd: rollout {id}");
    let html = page_html(&PageSpec {
        title: &title,
        kind: PageKind::Rollout(&id),
        assets: Assets::Linked {
            base: &base,
            token: query.token.as_deref(),
        },
        embedded_json: None,
    });
    (status, Html(html)).into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS),
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn list_data(State(store): State<Arc<Store>>) -> Response {
    match tokio::task::spawn_blocking(move || timeline::rollout_list(&store)).await {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(error)) => timeline_error(&error),
        Err(error) => internal_error(&error.to_string()),
    }
}

async fn rollout_data(State(store): State<Arc<Store>>, Path(id): Path<String>) -> Response {
    match tokio::task::spawn_blocking(move || timeline::rollout_view(&store, &id)).await {
        Ok(Ok(view)) => Json(view).into_response(),
        Ok(Err(error)) => timeline_error(&error),
        Err(error) => internal_error(&error.to_string()),
    }
}

fn timeline_error(error: &TimelineError) -> Response {
    match error {
        TimelineError::NotFound(_) => (StatusCode::NOT_FOUND, error.to_string()).into_response(),
        TimelineError::Store(_) => internal_error(&error.to_string()),
    }
}

fn internal_error(message: &str) -> Response {
    tracing::error!("status page: {message}");
    (StatusCode::INTERNAL_SERVER_ERROR, message.to_string()).into_response()
}

/// Which page the script renders.
#[derive(Debug, Clone, Copy)]
pub enum PageKind<'a> {
    List,
    Rollout(&'a str),
}

/// How the page gets its stylesheet and script.
#[derive(Debug, Clone, Copy)]
pub enum Assets<'a> {
    /// From `/assets/`, relative to the page (`base` leads back to the root), carrying the
    /// read token on.
    Linked {
        base: &'a str,
        token: Option<&'a str>,
    },
    /// Inlined, for a self-contained file.
    Inline,
}

/// Everything [`page_html`] needs.
#[derive(Debug, Clone, Copy)]
pub struct PageSpec<'a> {
    pub title: &'a str,
    pub kind: PageKind<'a>,
    pub assets: Assets<'a>,
    /// Data the script renders instead of fetching it (`{"rollout": …, "policy": …}`).
    pub embedded_json: Option<&'a serde_json::Value>,
}

/// The HTML shell of a page: the script fills `#app`.
pub fn page_html(spec: &PageSpec<'_>) -> String {
    let (page, rollout, data_path) = match spec.kind {
        PageKind::List => ("list", String::new(), "ui/data/rollouts".to_string()),
        PageKind::Rollout(id) => (
            "rollout",
            id.to_string(),
            format!("ui/data/rollouts/{}", percent_encode(id)),
        ),
    };
    let (base, head_assets, script) = match spec.assets {
        Assets::Linked { base, token } => {
            let suffix = token
                .map(|t| format!("?token={}", percent_encode(t)))
                .unwrap_or_default();
            (
                base,
                format!(
                    r#"<link rel="stylesheet" href="{base}assets/style.css{suffix}">"#,
                    base = escape_html(base),
                    suffix = escape_html(&suffix)
                ),
                format!(
                    r#"<script src="{base}assets/app.js{suffix}"></script>"#,
                    base = escape_html(base),
                    suffix = escape_html(&suffix)
                ),
            )
        }
        Assets::Inline => (
            "",
            format!("<style>\n{}\n</style>", STYLE_CSS.replace("</", "<\\/")),
            format!("<script>\n{}\n</script>", script_safe(APP_JS)),
        ),
    };
    let embedded = spec
        .embedded_json
        .map(|data| {
            format!(
                "<script type=\"application/json\" id=\"canaryd-data\">{}</script>\n",
                json_for_script(data)
            )
        })
        .unwrap_or_default();
    let home = match spec.assets {
        Assets::Linked { .. } => format!(
            r#"<a href="{}" data-keep-token>canaryd</a>"#,
            escape_html(if base.is_empty() { "./" } else { base })
        ),
        Assets::Inline => "<span>canaryd</span>".to_string(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
{head_assets}
</head>
<body data-page="{page}" data-rollout="{rollout}" data-base="{base}" data-data="{data}">
<header class="top">{home}<span class="sub">automated canary analysis</span></header>
<main id="app" aria-live="polite"><p class="status">Loading…</p><noscript><p>This page needs JavaScript to draw its charts; the same data is at <code>{data}</code>.</p></noscript></main>
{embedded}{script}
</body>
</html>
"#,
        title = escape_html(spec.title),
        page = page,
        rollout = escape_html(&rollout),
        base = escape_html(base),
        data = escape_html(&format!("{base}{data_path}")),
    )
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for a path segment or a
/// query value).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// JSON safe inside a `<script>` element: `<`, `>` and `&` escaped as JSON unicode escapes (so
/// no `</script>` in the data can end the element), and the line separators JavaScript once
/// rejected.
pub fn json_for_script(value: &serde_json::Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
}

/// The script's own text never contains `</script`; guard anyway so an edit cannot break the
/// inlined report.
fn script_safe(js: &str) -> String {
    js.replace("</script", "<\\/script")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let value = serde_json::json!({"text": "</script><script>alert(1)</script> & \u{2028}"});
        let text = json_for_script(&value);
        assert!(!text.contains("</script"));
        assert!(!text.contains('<'));
        let back: serde_json::Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn the_token_and_the_id_are_encoded_in_the_shell() {
        let html = page_html(&PageSpec {
            title: "t",
            kind: PageKind::Rollout("a/b\"<x>"),
            assets: Assets::Linked {
                base: "../",
                token: Some("s3cr&t \"x\""),
            },
            embedded_json: None,
        });
        assert!(html.contains(r#"href="../assets/style.css?token=s3cr%26t%20%22x%22""#));
        assert!(html.contains("data-rollout=\"a/b&quot;&lt;x&gt;\""));
        assert!(html.contains("data-data=\"../ui/data/rollouts/a%2Fb%22%3Cx%3E\""));
        assert!(!html.contains("<x>"));
    }

    #[test]
    fn inline_pages_carry_their_assets() {
        let data = serde_json::json!({"rollout": {"x": 1}});
        let html = page_html(&PageSpec {
            title: "t",
            kind: PageKind::Rollout("r1"),
            assets: Assets::Inline,
            embedded_json: Some(&data),
        });
        assert!(html.contains("svg.chart"));
        assert!(html.contains("function renderRollout"));
        assert!(html.contains(
            r#"<script type="application/json" id="canaryd-data">{"rollout":{"x":1}}</script>"#
        ));
        assert!(!html.contains("assets/app.js"));
    }
}
