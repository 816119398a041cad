//! Identity on both backends: crews, users, services, login, tokens, scopes, demo seeding.

use server::demo::{self, DemoOptions};
use server::domain::identity::{self as auth, AuthError, UserRole, hash_password};
use server::storage::{Crew, DbError, DistrictStore, DocStore, IdentityStore, NewUser};
use sync_core::session::ServerStore;
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;

async fn setup_users(f: &Fixture) {
    let db = &f.db;
    db.upsert_crew(&Crew {
        id: "C-1".into(),
        name: "Asphalt one".into(),
        district: "D1".into(),
        skills: vec!["pothole".into(), "tree".into()],
        contractor: Some("Pars".into()),
        on_duty: true,
    })
    .await
    .unwrap();
    let hash = hash_password("correct horse").unwrap();
    for (login, role, crew, districts) in [
        ("ali", UserRole::Crew, Some("C-1"), vec![]),
        (
            "sara",
            UserRole::Dispatcher,
            None,
            vec!["D2".to_string(), "D1".to_string()],
        ),
    ] {
        tarmim_testing::add_user(
            db,
            &format!("u-{login}"),
            login,
            &hash,
            role,
            crew,
            districts,
        )
        .await;
    }
}

async fn crews_users_services(f: &Fixture) {
    let db = &f.db;
    setup_users(f).await;
    let c = db.crew("C-1").await.unwrap().unwrap();
    assert_eq!(c.skills, ["pothole", "tree"]);
    assert!(c.on_duty);
    assert_eq!(db.crews().await.unwrap().len(), 1);
    assert_eq!(db.crew("nope").await.unwrap(), None);

    let u = db.user_by_login("ali").await.unwrap().unwrap();
    assert_eq!(u.role, UserRole::Crew);
    assert_eq!(u.crew.as_deref(), Some("C-1"));
    assert_eq!(u.crew_district.as_deref(), Some("D1"));
    let s = db.user_by_login("sara").await.unwrap().unwrap();
    assert_eq!(s.districts, ["D1", "D2"]);
    assert_eq!(db.count_users().await.unwrap(), 2);

    // A taken login, an unknown crew.
    let dup = NewUser {
        id: "u-other".into(),
        login: "ali".into(),
        password_hash: "x".into(),
        role: UserRole::Admin,
        crew: None,
        districts: vec![],
        contractor: None,
    };
    assert!(matches!(
        db.create_user(&dup).await,
        Err(DbError::Duplicate(_))
    ));
    let ghost = NewUser {
        id: "u-ghost".into(),
        login: "ghost".into(),
        password_hash: "x".into(),
        role: UserRole::Crew,
        crew: Some("C-404".into()),
        districts: vec![],
        contractor: None,
    };
    assert!(matches!(
        db.create_user(&ghost).await,
        Err(DbError::NotFound(_))
    ));
    // Ids that could not name a scope are refused.
    let bad_crew = Crew {
        id: "crew 9".into(),
        name: "Nine".into(),
        district: "D1".into(),
        skills: vec![],
        contractor: None,
        on_duty: false,
    };
    assert!(matches!(
        db.upsert_crew(&bad_crew).await,
        Err(DbError::Invalid(_))
    ));
    let bad_user = NewUser {
        districts: vec!["D/1".into()],
        contractor: None,
        role: UserRole::Dispatcher,
        crew: None,
        login: "dd".into(),
        ..dup.clone()
    };
    assert!(matches!(
        db.create_user(&bad_user).await,
        Err(DbError::Invalid(_))
    ));

    for s in demo::demo_services() {
        db.upsert_service(&s).await.unwrap();
    }
    let services = db.services().await.unwrap();
    assert_eq!(services.len(), demo::demo_services().len());
    assert!(services.iter().any(|s| s.code == "water_leak"));
}

async fn login_tokens_and_scopes(f: &Fixture) {
    let db = &f.db;
    setup_users(f).await;
    let now = 1_700_000_000_000;
    let ttl = 3_600_000;

    // Wrong password and unknown user fail the same way.
    assert!(matches!(
        auth::login(db, "ali", "wrong", "phone-1", now, ttl).await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        auth::login(db, "nobody", "correct horse", "phone-1", now, ttl).await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        auth::login(db, "ali", "correct horse", "bad device id", now, ttl).await,
        Err(AuthError::InvalidInput(_))
    ));

    let out = auth::login(db, "ali", "correct horse", "phone-1", now, ttl)
        .await
        .unwrap();
    assert_eq!(out.expires_at, now + ttl);
    let id = auth::authenticate(db, &out.token, now + 1).await.unwrap();
    assert_eq!(id.user_id, "u-ali");
    assert_eq!(id.device.as_str(), "phone-1");
    let scopes: Vec<String> = id.scopes(true).into_iter().map(String::from).collect();
    assert_eq!(scopes, ["crew:C-1", "open:D1"]);
    let actor = id.actor().unwrap();
    assert_eq!(actor.crew.as_deref(), Some("C-1"));

    // Expired.
    assert!(matches!(
        auth::authenticate(db, &out.token, now + ttl).await,
        Err(AuthError::InvalidToken)
    ));
    // Unknown and malformed tokens.
    let other = auth::new_token();
    assert!(matches!(
        auth::authenticate(db, &other.token, now).await,
        Err(AuthError::InvalidToken)
    ));
    assert!(matches!(
        auth::authenticate(db, "garbage", now).await,
        Err(AuthError::InvalidToken)
    ));
    // Revoked.
    assert!(db.revoke_token(&id.token_hash, now + 2).await.unwrap());
    assert!(!db.revoke_token(&id.token_hash, now + 3).await.unwrap());
    assert!(matches!(
        auth::authenticate(db, &out.token, now + 4).await,
        Err(AuthError::InvalidToken)
    ));

    // Dispatcher: district scopes; revoke-all (the admin CLI's path).
    let a = auth::login(db, "sara", "correct horse", "console-1", now, ttl)
        .await
        .unwrap();
    let b = auth::login(db, "sara", "correct horse", "console-2", now, ttl)
        .await
        .unwrap();
    let id = auth::authenticate(db, &a.token, now).await.unwrap();
    let scopes: Vec<String> = id.scopes(true).into_iter().map(String::from).collect();
    assert_eq!(scopes, ["district:D1", "district:D2"]);
    assert_eq!(db.revoke_user_tokens("u-sara", now).await.unwrap(), 2);
    for t in [&a.token, &b.token] {
        assert!(auth::authenticate(db, t, now).await.is_err());
    }
}

async fn demo_city(f: &Fixture) {
    let db = &f.db;
    let s = demo::seed(
        db,
        DemoOptions {
            tasks: 200,
            seed: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(s.districts, 12);
    assert!(s.crews >= 24);
    // One per role (a contractor's representative too) and one per crew.
    assert_eq!(s.users, 7 + s.crews);
    assert_eq!(db.neighbours("D01").await.unwrap(), ["D02", "D05", "D06"]);
    assert_eq!(
        db.district_covering(35.69, 51.40).await.unwrap().as_deref(),
        Some("D07")
    );
    // The exclave of the MultiPolygon district.
    assert_eq!(
        db.district_covering(35.635, 51.405)
            .await
            .unwrap()
            .as_deref(),
        Some("D12")
    );
    let out = auth::login(
        db,
        "crew-d01-a",
        demo::DEMO_CREW_PASSWORD,
        "phone-x",
        0,
        1000,
    )
    .await
    .unwrap();
    assert_eq!(out.identity.crew.as_deref(), Some("C-D01-A"));
    assert_eq!(s.tasks_skipped, None);
    assert_eq!(s.tasks, 200);
    assert_eq!(db.count_docs().await.unwrap(), 200);
    // Tasks in every state, each in the scopes its derived state implies.
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for i in 1..=200 {
        let id = sync_core::DocId::new(format!("T-{i:05}")).unwrap();
        let row = db.task_row(&id).await.unwrap().unwrap();
        *statuses.entry(row.status.clone()).or_default() += 1;
        let scopes = db.doc_scopes(&id).await.unwrap();
        if let Some(d) = &row.district {
            assert!(scopes.iter().any(|s| s.as_str() == format!("district:{d}")));
        }
        if row.status == "in_progress" {
            let crew = row.assignee.clone().unwrap();
            assert!(scopes.iter().any(|s| s.as_str() == format!("crew:{crew}")));
        }
    }
    eprintln!("demo statuses: {statuses:?}");
    for st in [
        "new",
        "queued",
        "assigned",
        "acknowledged",
        "in_progress",
        "paused",
        "completed",
        "verified",
        "reopened",
        "cancelled",
    ] {
        assert!(
            statuses.contains_key(st),
            "no demo task is {st}: {statuses:?}"
        );
    }
}

on_both_backends!(crews_users_services, login_tokens_and_scopes, demo_city);
