//! Districts as admins manage them: import or replace polygons from GeoJSON (checked:
//! valid, not self-intersecting — `districts::parse_geojson`), a district's names (Persian
//! and English), its region and whether its non-urgent tasks are auto-assigned. Neighbours are not typed in: they are
//! the districts whose polygons touch or overlap, recomputed at every import (dispatch
//! looks next door for a crew), and listed here.

use super::{Admin, AdminError, opt_text};
use crate::domain::districts::{PropertyNames, parse_geojson};
use crate::storage::admin as store;
use crate::storage::{Db, DistrictStore};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A district as the admin page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AdminDistrict {
    /// Code.
    pub code: String,
    /// Name (the local, Persian one).
    pub name: String,
    /// English name, if known.
    pub name_en: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Districts whose polygons touch or overlap this one.
    pub neighbours: Vec<String>,
    /// Whether normal, high and low tasks are auto-assigned too (urgent ones always are).
    pub auto_assign: bool,
}

/// An import: a GeoJSON FeatureCollection (or Feature) of Polygon/MultiPolygon features
/// and the properties holding each district's code, name and region.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DistrictImport {
    /// The GeoJSON object.
    #[schema(value_type = Object)]
    pub geojson: serde_json::Value,
    /// Property with the code (default `code`).
    #[serde(default)]
    pub code_property: Option<String>,
    /// Property with the (Persian) name (default `name`).
    #[serde(default)]
    pub name_property: Option<String>,
    /// Property with the English name (none: no English names).
    #[serde(default)]
    pub name_en_property: Option<String>,
    /// Property with the region (none: no region).
    #[serde(default)]
    pub region_property: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Imported {
    /// Districts inserted or replaced.
    pub districts: usize,
    /// Adjacent pairs after the import (all districts).
    pub adjacent_pairs: usize,
}

/// A district's settings.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DistrictSettings {
    /// Its (Persian) name (none: unchanged; it cannot be blank).
    #[serde(default)]
    pub name: Option<String>,
    /// Its English name (none: unchanged; blank: none).
    #[serde(default)]
    pub name_en: Option<String>,
    /// Region (blank or none: no region).
    #[serde(default)]
    pub region: Option<String>,
    /// Auto-assign non-urgent tasks too.
    pub auto_assign: bool,
}

/// Every district with its neighbours and setting.
pub async fn list(db: &Db) -> Result<Vec<AdminDistrict>, AdminError> {
    let auto = store::auto_assigned_districts(db).await?;
    let mut out = Vec::new();
    for d in db.districts().await? {
        out.push(AdminDistrict {
            neighbours: db.neighbours(&d.code).await?,
            auto_assign: auto.contains(&d.code),
            code: d.code,
            name: d.name,
            name_en: d.name_en,
            region: d.region,
        });
    }
    Ok(out)
}

/// Imports districts from GeoJSON text (`tarmim-server import-districts`, the admin
/// page): new codes are added, known ones replaced, adjacency recomputed.
pub async fn import(
    db: &Db,
    by: &Admin,
    text: &str,
    props: &PropertyNames,
) -> Result<Imported, AdminError> {
    let districts = parse_geojson(text, props).map_err(|e| AdminError::Invalid(e.to_string()))?;
    if districts.is_empty() {
        return Err(AdminError::Invalid("the GeoJSON has no features".into()));
    }
    let out = db.import_districts(&districts).await?;
    let codes: Vec<&str> = districts.iter().map(|d| d.code.as_str()).collect();
    by.record(
        db,
        "district_import",
        &codes.join(","),
        json!({"districts": out.districts, "adjacent_pairs": out.adjacent_pairs}),
    )
    .await;
    Ok(Imported {
        districts: out.districts,
        adjacent_pairs: out.adjacent_pairs,
    })
}

/// Imports a request's GeoJSON object.
pub async fn import_json(
    db: &Db,
    by: &Admin,
    req: &DistrictImport,
) -> Result<Imported, AdminError> {
    let prop = |p: &Option<String>, default: &str| {
        p.as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or(default)
            .to_owned()
    };
    let props = PropertyNames {
        code: prop(&req.code_property, "code"),
        name: prop(&req.name_property, "name"),
        name_en: req
            .name_en_property
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        region: req
            .region_property
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    };
    import(db, by, &req.geojson.to_string(), &props).await
}

async fn get(db: &Db, code: &str) -> Result<AdminDistrict, AdminError> {
    list(db)
        .await?
        .into_iter()
        .find(|d| d.code == code)
        .ok_or_else(|| AdminError::NotFound(format!("no district {code:?}")))
}

/// Sets a district's region.
pub async fn set_region(
    db: &Db,
    by: &Admin,
    code: &str,
    region: Option<&str>,
) -> Result<AdminDistrict, AdminError> {
    let region = opt_text("a region", region, 100)?;
    if !store::set_district_region(db, code, region.as_deref()).await? {
        return Err(AdminError::NotFound(format!("no district {code:?}")));
    }
    by.record(db, "district_region", code, json!({"region": region}))
        .await;
    get(db, code).await
}

/// Sets a district's names: the (Persian) `name`, never blank, and the English one
/// (none: no English name).
pub async fn set_names(
    db: &Db,
    by: &Admin,
    code: &str,
    name: &str,
    name_en: Option<&str>,
) -> Result<AdminDistrict, AdminError> {
    let name = opt_text("a name", Some(name), 100)?
        .ok_or_else(|| AdminError::Invalid("a district's name cannot be blank".into()))?;
    let name_en = opt_text("an English name", name_en, 100)?;
    if !store::set_district_names(db, code, &name, name_en.as_deref()).await? {
        return Err(AdminError::NotFound(format!("no district {code:?}")));
    }
    by.record(
        db,
        "district_names",
        code,
        json!({"name": name, "name_en": name_en}),
    )
    .await;
    get(db, code).await
}

/// Whether a district's normal (and high, low) tasks are auto-assigned too.
pub async fn set_auto_assign(
    db: &Db,
    by: &Admin,
    code: &str,
    on: bool,
) -> Result<AdminDistrict, AdminError> {
    get(db, code).await?;
    crate::storage::dispatch::set_auto_assign_normal(db, code, on).await?;
    by.record(
        db,
        "district_auto_assign",
        code,
        json!({"auto_assign_normal": on}),
    )
    .await;
    get(db, code).await
}

/// Both settings at once (the admin page's form).
pub async fn update(
    db: &Db,
    by: &Admin,
    code: &str,
    s: &DistrictSettings,
) -> Result<AdminDistrict, AdminError> {
    let before = get(db, code).await?;
    let name = match &s.name {
        Some(n) => n.trim().to_owned(),
        None => before.name.clone(),
    };
    let name_en = match &s.name_en {
        Some(n) => Some(n.trim().to_owned()).filter(|n| !n.is_empty()),
        None => before.name_en.clone(),
    };
    if name != before.name || name_en != before.name_en {
        set_names(db, by, code, &name, name_en.as_deref()).await?;
    }
    let region = opt_text("a region", s.region.as_deref(), 100)?;
    if region != before.region {
        set_region(db, by, code, region.as_deref()).await?;
    }
    if s.auto_assign != before.auto_assign {
        set_auto_assign(db, by, code, s.auto_assign).await?;
    }
    get(db, code).await
}
