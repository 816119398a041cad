//! The desk's demo caller: a phone number (printed at first start with the demo logins)
//! with two earlier reports filed at the call centre — a pothole in D01 and a broken
//! street light in D06 — so an operator can look the caller up at once.

use crate::base::config::Config;
use crate::domain::callcentre::callers::CallerKey;
use crate::domain::callcentre::filing::{self, DeskReport};
use crate::domain::callcentre::{Desk, Operator};
use crate::domain::dispatch::Dispatch;
use crate::domain::hub::Hub;
use crate::domain::intake::Kind;
use crate::domain::photo::Photos;
use crate::storage::Db;
use std::collections::BTreeMap;
use sync_core::{Actor, DeviceId, Role};

/// The demo caller's number, as an operator might type it.
pub const DEMO_CALLER: &str = "0912 345 6789";

/// Files the demo caller's two reports; returns their tracking codes.
pub async fn seed_demo_caller(db: &Db, config: &Config) -> Result<Vec<String>, String> {
    let key = CallerKey::load(config)?;
    let dispatch = Dispatch::new(db.clone(), Hub::new(None), config);
    let photos = Photos::from_config(config).map_err(|e| e.to_string())?;
    let zone = config.zone();
    let desk = Desk {
        citizens: crate::domain::citizen::Citizens {
            dispatch: &dispatch,
            photos: &photos,
            open311: &config.open311,
            zone: &zone,
            tile_url: &config.tile_url,
            report: &config.report,
            caller_key: &key,
        },
        sms_configured: config.outbox.sms_url.is_some(),
        call_timeout_ms: 0,
    };
    let op = Operator {
        user_id: "u-callcentre".into(),
        actor: Actor {
            user: "u-callcentre".into(),
            role: Role::CallCentre,
            crew: None,
            device: DeviceId::new("console-callcentre").map_err(|e| e.to_string())?,
        },
    };
    let reports = [
        (
            "pothole",
            (35.7205, 51.3375),
            "چاله‌ی بزرگ جلوی نانوایی؛ ماشین‌ها منحرف می‌شوند",
            "خیابان ولیعصر، جلوی نانوایی",
            [("size", "large")].as_slice(),
        ),
        (
            "streetlight",
            (35.69, 51.3725),
            "چراغ سر کوچه سه شب است خاموش است",
            "کوچه‌ی بهار، سر کوچه",
            [].as_slice(),
        ),
    ];
    let mut codes = Vec::new();
    for (service, (lat, lon), description, address, attrs) in reports {
        let filed = filing::file(
            &desk,
            &op,
            DeskReport {
                kind: Kind::Request,
                service: Some(service.into()),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                    .collect::<BTreeMap<_, _>>(),
                lat: Some(lat),
                lon: Some(lon),
                address: Some(address.into()),
                description: description.into(),
                district: None,
                about_task: None,
                about_unit: None,
                phone: Some(DEMO_CALLER.into()),
                consent: false,
                lang: Some("fa".into()),
                call: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        codes.push(filed.receipt.tracking_code);
    }
    Ok(codes)
}
