//! The `tarmim-server` binary's admin commands, on both backends: migrate, import
//! districts, add a crew and users (password on stdin), revoke tokens, and clear failures.

use server::domain::identity as auth;
use server::storage::DistrictStore;
use std::process::Output;
use tarmim_testing::Fixture;
use tarmim_testing::ok;
use tarmim_testing::on_both_backends;

fn run(f: &Fixture, args: &[&str], stdin: Option<&str>) -> Output {
    tarmim_testing::cli(env!("CARGO_BIN_EXE_tarmim-server"), f, args, stdin, &[])
}

const TWO: &str = r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"id": 1, "title": "West", "zone": "R1"},
   "geometry": {"type": "Polygon", "coordinates": [[[51.3, 35.7], [51.4, 35.7], [51.4, 35.8], [51.3, 35.8], [51.3, 35.7]]]}},
  {"type": "Feature", "properties": {"id": 2, "title": "East", "zone": "R1"},
   "geometry": {"type": "MultiPolygon", "coordinates": [[[[51.4, 35.7], [51.5, 35.7], [51.5, 35.8], [51.4, 35.8], [51.4, 35.7]]]]}}
]}"#;

async fn admin_commands(f: &Fixture) {
    assert!(ok(&run(f, &["migrate"], None)).contains("migrations applied"));

    let file = f.config.data_dir.join("districts.geojson");
    std::fs::write(&file, TWO).unwrap();
    let file = file.to_str().unwrap();
    let out = ok(&run(
        f,
        &[
            "import-districts",
            file,
            "--code-property",
            "id",
            "--name-property",
            "title",
            "--region-property",
            "zone",
        ],
        None,
    ));
    assert_eq!(out.trim(), "imported 2 districts; 1 adjacent pairs");
    // The already-open store (a running server) sees the import at once.
    assert_eq!(
        f.db.district_covering(35.75, 51.45)
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        f.db.district_covering(35.75, 51.4)
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );

    // A property that is missing: a clear error naming the feature, and a failure status.
    let out = run(
        f,
        &[
            "import-districts",
            file,
            "--code-property",
            "nope",
            "--name-property",
            "title",
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("feature 0") && err.contains("\"nope\""),
        "{err}"
    );

    ok(&run(
        f,
        &[
            "crew",
            "add",
            "--id",
            "C-1",
            "--name",
            "One",
            "--district",
            "1",
            "--skill",
            "pothole",
            "--skill",
            "tree",
            "--on-duty",
        ],
        None,
    ));
    let out = ok(&run(
        f,
        &[
            "user",
            "add",
            "--login",
            "ali",
            "--password-stdin",
            "--role",
            "crew",
            "--crew",
            "C-1",
        ],
        Some("long-enough-pw\n"),
    ));
    assert!(out.contains("user ali added (crew)"));
    ok(&run(
        f,
        &[
            "user",
            "add",
            "--login",
            "sara",
            "--password-stdin",
            "--role",
            "dispatcher",
            "--district",
            "1",
            "--district",
            "2",
        ],
        Some("another-pw-123\n"),
    ));
    // Refusals: crew member without a crew, short password, unknown role, taken login.
    for (args, stdin) in [
        (
            vec![
                "user",
                "add",
                "--login",
                "x",
                "--password-stdin",
                "--role",
                "crew",
            ],
            "long-enough-pw\n",
        ),
        (
            vec![
                "user",
                "add",
                "--login",
                "y",
                "--password-stdin",
                "--role",
                "manager",
            ],
            "short\n",
        ),
        (
            vec![
                "user",
                "add",
                "--login",
                "z",
                "--password-stdin",
                "--role",
                "root",
            ],
            "long-enough-pw\n",
        ),
        (
            vec![
                "user",
                "add",
                "--login",
                "ali",
                "--password-stdin",
                "--role",
                "admin",
            ],
            "long-enough-pw\n",
        ),
    ] {
        let out = run(f, &args, Some(stdin));
        assert!(!out.status.success(), "{args:?} should fail");
    }

    let now = server::base::time::now_millis();
    let login = auth::login(&f.db, "ali", "long-enough-pw", "phone-1", now, 60_000)
        .await
        .unwrap();
    assert_eq!(login.identity.crew_district.as_deref(), Some("1"));
    let sara = auth::login(&f.db, "sara", "another-pw-123", "console-1", now, 60_000)
        .await
        .unwrap();
    assert_eq!(sara.identity.districts, ["1", "2"]);
    let out = ok(&run(f, &["user", "revoke-tokens", "--login", "ali"], None));
    assert_eq!(out.trim(), "revoked 1 token(s) of ali");
    assert!(auth::authenticate(&f.db, &login.token, now).await.is_err());
    assert!(auth::authenticate(&f.db, &sara.token, now).await.is_ok());
}

on_both_backends!(admin_commands);
