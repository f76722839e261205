//! The Usage tab of an application: its last 30 days as stacked bar charts (requests by
//! status class, upstream errors and events by service, webhook deliveries by outcome),
//! from the same report as the management API's `GET /v1/applications/{app}/usage`.
//! Another developer's application is not found.
//!
//! # Layout
//! - `chart`: the charts' shapes, drawn as inline SVG by the template.

mod chart;

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::get,
    Router,
};
use cloudbridge_shared::db;

use super::{
    session::Signed,
    view::{self, Frame},
    Portal,
};
use crate::routes::usage::{application_usage, DEFAULT_DAYS};
use chart::Chart;

/// The Usage tab's route.
pub fn routes() -> Router<Portal> {
    Router::new().route("/apps/{id}/usage", get(show))
}

/// `usage.html`.
#[derive(Template)]
#[template(path = "portal/usage.html")]
pub struct UsagePage {
    pub frame: Frame,
    /// Days shown.
    pub days: u32,
    /// One chart per metric.
    pub charts: Vec<Chart>,
    /// Whether this appliance counts usage at all.
    pub enabled: bool,
    /// How often counts are written, in seconds (what may not show yet).
    pub flush_secs: u64,
    /// The drawing's size.
    pub width: u32,
    pub height: u32,
    /// Where the scale's lines start and end.
    pub plot_left: f64,
    pub plot_right: f64,
}

/// `GET /apps/{id}/usage`.
async fn show(State(portal): State<Portal>, signed: Signed, Path(id): Path<String>) -> Response {
    let dev = signed.session.developer_id;
    let app = match db::applications::get(&portal.app.db, dev, &id).await {
        Ok(Some(app)) => app,
        Ok(None) => return view::not_found(Frame::signed(&signed.session)),
        Err(e) => return view::unavailable(e),
    };
    let report = match application_usage(&portal.app, dev, &app.id, DEFAULT_DAYS).await {
        Ok(report) => report,
        Err(e) if e.status == 404 => return view::not_found(Frame::signed(&signed.session)),
        Err(e) => return view::unavailable(e.message),
    };
    let settings = &portal.app.settings.usage;
    view::render(
        StatusCode::OK,
        &UsagePage {
            frame: Frame::of_app(&signed.session, &app.id, &app.name, view::Tab::Usage),
            days: DEFAULT_DAYS,
            charts: report
                .metrics
                .iter()
                .map(|series| Chart::of(&report.days, series))
                .collect(),
            enabled: settings.enabled,
            flush_secs: settings.flush_ms.div_ceil(1000).max(1),
            width: chart::WIDTH,
            height: chart::HEIGHT,
            plot_left: chart::LEFT,
            plot_right: f64::from(chart::WIDTH) - chart::RIGHT,
        },
    )
}
