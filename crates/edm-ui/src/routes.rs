//! The store as a site: the shop page at `/` and the embedded static files
//! under `/static/` (`/health`, `/ready` and `/metrics` come with the
//! runtime; the store depends on nothing at run time, so it is ready once
//! it serves).

use askama::Template;
use edm_runtime::{pages, Routes, Site, SiteSettings};

use crate::assets::ASSETS;
use crate::catalog::{PictureKind, Product, KITS, PRODUCTS};

/// The store, a site: its page sends events to the relay (`EDM_RELAY_URL`)
/// and connects nowhere else.
pub struct Store;

impl Site for Store {
    const NAME: &'static str = crate::NAME;

    fn routes(settings: &SiteSettings<Self>) -> Routes {
        let relay = settings.url("EDM_RELAY_URL");
        let page = StorePage {
            relay_url: relay.as_str(),
            products: &PRODUCTS,
            kits: &KITS,
        };
        pages::site(page, &ASSETS, &[relay.origin()], "edm_ui")
    }
}

/// The shop page.
#[derive(Template)]
#[template(path = "store.html")]
struct StorePage<'a> {
    /// Where the page's script sends events.
    relay_url: &'a str,
    /// Coffees and gear.
    products: &'a [Product],
    /// Bundles.
    kits: &'a [Product],
}
