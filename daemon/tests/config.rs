//! Daemon config: defaults, the TOML file, `CANARYD_*` overrides, unknown keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use canaryd::config::{ConfigError, CredentialKind, DaemonConfig, LogFormat};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../canaryd.example.toml")
}

#[test]
fn defaults_are_azure_public_cloud() {
    let config = DaemonConfig::load_with_env(None, env(&[("PATH", "/bin")])).expect("defaults");
    assert_eq!(config.azure.arm_base_url, "https://management.azure.com");
    assert_eq!(
        config.azure.log_analytics_base_url,
        "https://api.loganalytics.io"
    );
    assert_eq!(config.azure.metrics_base_url, config.azure.arm_base_url);
    assert_eq!(
        config.azure.credential.kind,
        CredentialKind::ManagedIdentity
    );
    assert_eq!(config.policies_dir, PathBuf::from("/etc/canaryd/policies"));
    assert_eq!(
        config.state_db,
        PathBuf::from("/var/lib/canaryd/canaryd.db")
    );
    assert_eq!(
        config.listen,
        "127.0.0.1:9187".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.clock.time_scale, 1.0);
    assert_eq!(config.clock.epoch_unix_s, None);
    assert_eq!(DaemonConfig::from_toml_str("").expect("empty file"), config);
    assert_eq!(config, DaemonConfig::default());
}

#[test]
fn example_file_loads_with_its_documented_values() {
    let config = DaemonConfig::load_with_env(Some(&example()), Vec::new()).expect("example");
    assert_eq!(config.policies_dir, PathBuf::from("/etc/canaryd/policies"));
    assert_eq!(
        config.azure.credential.kind,
        CredentialKind::ManagedIdentity
    );
}

#[test]
fn file_values_and_environment_overrides() {
    let toml = r#"
policies_dir = "/srv/policies"
state_db = "/srv/state.db"
listen = "0.0.0.0:8080"
log_format = "json"

[azure]
arm_base_url = "https://management.usgovcloudapi.net"

[azure.credential]
kind = "workload_identity"
client_id = "11111111-1111-1111-1111-111111111111"

[clock]
time_scale = 60.0
"#;
    let dir = std::env::temp_dir().join(format!("canaryd-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("canaryd.toml");
    std::fs::write(&path, toml).expect("write");

    let config = DaemonConfig::load_with_env(Some(&path), Vec::new()).expect("file");
    assert_eq!(config.policies_dir, PathBuf::from("/srv/policies"));
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(config.listen.port(), 8080);
    assert_eq!(
        config.azure.arm_base_url,
        "https://management.usgovcloudapi.net"
    );
    // Not in the file: still the default.
    assert_eq!(
        config.azure.log_analytics_base_url,
        "https://api.loganalytics.io"
    );
    assert_eq!(
        config.azure.credential.kind,
        CredentialKind::WorkloadIdentity
    );
    assert_eq!(config.clock.time_scale, 60.0);

    // The emulator's variables (azure_emulator::Emulator::env) plus a few more.
    let overrides = env(&[
        ("CANARYD_AZURE__ARM_BASE_URL", "http://127.0.0.1:4000"),
        (
            "CANARYD_AZURE__LOG_ANALYTICS_BASE_URL",
            "http://127.0.0.1:4000",
        ),
        ("CANARYD_AZURE__METRICS_BASE_URL", "http://127.0.0.1:4000"),
        ("CANARYD_AZURE__CREDENTIAL__KIND", "managed_identity"),
        ("CANARYD_POLICIES_DIR", "/tmp/policies"),
        ("CANARYD_LOG_FORMAT", "text"),
        ("CANARYD_CLOCK__TIME_SCALE", "120"),
        ("CANARYD_CLOCK__EPOCH_UNIX_S", "1700000000"),
        ("CANARYD_CONFIG", "/not/a/setting.toml"),
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:4000/msi/token"),
    ]);
    let config = DaemonConfig::load_with_env(Some(&path), overrides).expect("env");
    assert_eq!(config.azure.arm_base_url, "http://127.0.0.1:4000");
    assert_eq!(config.azure.log_analytics_base_url, "http://127.0.0.1:4000");
    assert_eq!(config.azure.metrics_base_url, "http://127.0.0.1:4000");
    assert_eq!(
        config.azure.credential.kind,
        CredentialKind::ManagedIdentity
    );
    // Set in the file, not overridden: kept.
    assert_eq!(
        config.azure.credential.client_id.as_deref(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    assert_eq!(config.policies_dir, PathBuf::from("/tmp/policies"));
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.clock.time_scale, 120.0);
    assert_eq!(config.clock.epoch_unix_s, Some(1_700_000_000.0));
    assert_eq!(config.state_db, PathBuf::from("/srv/state.db"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let error = DaemonConfig::from_toml_str("polices_dir = \"/x\"\n").expect_err("typo");
    assert!(matches!(error, ConfigError::Parse { .. }), "{error}");
    assert!(error.to_string().contains("polices_dir"), "{error}");

    let error =
        DaemonConfig::from_toml_str("[azure]\narm_url = \"https://x\"\n").expect_err("typo");
    assert!(error.to_string().contains("arm_url"), "{error}");

    let error =
        DaemonConfig::load_with_env(None, env(&[("CANARYD_AZURE__ARM_BASEURL", "http://x")]))
            .expect_err("env typo");
    assert!(error.to_string().contains("arm_baseurl"), "{error}");
    // Test knobs share the prefix but are never settings (CI exports one for every daemon).
    DaemonConfig::load_with_env(None, env(&[("CANARYD_TEST_REQUIRE_CHROMIUM", "1")]))
        .expect("a CANARYD_TEST_ variable is not a setting");

    let error = DaemonConfig::from_toml_str("[azure.credential]\nkind = \"password\"\n")
        .expect_err("bad kind");
    assert!(error.to_string().contains("password"), "{error}");
}

#[test]
fn bad_values_name_the_key_and_the_fix() {
    let error = DaemonConfig::from_toml_str("[clock]\ntime_scale = 0\n").expect_err("zero");
    assert!(
        matches!(&error, ConfigError::Invalid { key, .. } if key == "clock.time_scale"),
        "{error}"
    );
    assert!(error.to_string().contains("fix:"), "{error}");

    let error = DaemonConfig::from_toml_str("[azure]\narm_base_url = \"management.azure.com\"\n")
        .expect_err("no scheme");
    assert!(error.to_string().contains("azure.arm_base_url"), "{error}");

    let error = DaemonConfig::from_toml_str("listen = \"localhost\"\n").expect_err("bad addr");
    assert!(error.to_string().contains("listen"), "{error}");
}

#[test]
fn client_secret_is_required_and_redacted() {
    let error = DaemonConfig::from_toml_str(
        "[azure.credential]\nkind = \"client_secret\"\ntenant_id = \"t\"\nclient_id = \"c\"\n",
    )
    .expect_err("no secret");
    assert!(
        error.to_string().contains("azure.credential.client_secret"),
        "{error}"
    );
    let config = DaemonConfig::load_with_env(
        None,
        env(&[
            ("CANARYD_AZURE__CREDENTIAL__KIND", "client_secret"),
            ("CANARYD_AZURE__CREDENTIAL__TENANT_ID", "tenant"),
            ("CANARYD_AZURE__CREDENTIAL__CLIENT_ID", "client"),
            (
                "CANARYD_AZURE__CREDENTIAL__CLIENT_SECRET",
                "s3cr3t-value-123",
            ),
        ]),
    )
    .expect("secret from the environment");
    assert_eq!(
        config.azure.credential.client_secret.as_deref(),
        Some("s3cr3t-value-123")
    );
    let printed = format!("{config:?}");
    assert!(!printed.contains("s3cr3t"), "{printed}");
    let serialized = serde_json::to_string(&config).expect("serialize");
    assert!(!serialized.contains("s3cr3t"), "{serialized}");
}
