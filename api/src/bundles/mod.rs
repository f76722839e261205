//! The Kloudless widgets' published bundles, served by the API tier with its own URL in
//! place of Kloudless's, so an app moves its widgets by pointing them here and builds
//! nothing (docs/widgets-protocol.md §1.1, §2.2, §3.1).
//!
//! Served under `/widgets/`:
//! - `file-picker/v2/loader.js`, `loader.min.js`: the loader an app's page includes; its
//!   picker page is ours.
//! - `file-picker/v2/picker/…`: the picker's page and assets (the `dist/picker` tree), its
//!   `picker.js` talking to this appliance and loading its images from `static/`.
//! - `authenticator/v1/authenticator.js`, `authenticator.min.js`: the Authenticator,
//!   connecting through this appliance.
//! - `static/…`: the picker's images ([`icons`]).
//!
//! The bundles come from npm (`widgets/package-lock.json`) into `widgets.bundles_dir`; one
//! missing or built differently from the pinned release is not served (a warning at start).

mod icons;
mod template;

use std::{collections::HashMap, path::PathBuf};

use axum::body::Bytes;

use template::{Swap, Template, To};

/// Where the picker's page lives under `/widgets/`.
pub const PICKER_DIR: &str = "file-picker/v2/picker/";

/// The File Picker's page, relative to the base URL.
const PICKER_PAGE: &str = "/widgets/file-picker/v2/picker/index.html";

/// A file served rewritten: where, from which file, as what, and which literals become
/// ours.
struct Source {
    served: &'static str,
    file: &'static str,
    content_type: &'static str,
    swaps: &'static [Swap],
}

const JS: &str = "application/javascript; charset=utf-8";

/// The loader's built-in picker pages (the v1 explorer is what `custom_css` asks for).
const LOADER_SWAPS: &[Swap] = &[
    Swap::once(
        "https://static-cdn.kloudless.com/p/platform/file-picker/v2/index.html",
        PICKER_PAGE,
    ),
    Swap::once(
        "https://static-cdn.kloudless.com/p/platform/explorer/explorer.html",
        PICKER_PAGE,
    ),
];

/// The Authenticator's built-in API.
const AUTHENTICATOR_SWAPS: &[Swap] = &[Swap::once("https://api.kloudless.com", "")];

const SOURCES: &[Source] = &[
    Source {
        served: "file-picker/v2/picker/picker.js",
        file: "@kloudless/file-picker/dist/picker/picker.js",
        content_type: JS,
        swaps: &[
            // The published 2.3.3 bundle was built against Kloudless's test API.
            Swap::once("https://test-api.kloudless.com", ""),
            Swap::once(
                "https://s3-us-west-2.amazonaws.com/static-assets.kloudless.com",
                "/widgets/static",
            ),
        ],
    },
    Source {
        served: "file-picker/v2/picker/picker.css",
        file: "@kloudless/file-picker/dist/picker/picker.css",
        content_type: "text/css; charset=utf-8",
        swaps: &[
            // Its icons (drawn here, [`icons`]) and its font (the reader's own, if any).
            Swap {
                from: "https://kloudless-static-assets.s3.amazonaws.com/common/explorer/icon/",
                to: To::Here("/widgets/static/explorer/icon/"),
                times: 25,
            },
            Swap {
                from: "url(https://kloudless-cors.s3.amazonaws.com/font/lato-v16-latin-regular.woff) format(\"woff\")",
                to: To::Text("local(\"Lato\")"),
                times: 1,
            },
        ],
    },
    Source {
        served: "file-picker/v2/loader.js",
        file: "@kloudless/file-picker/dist/loader/loader.js",
        content_type: JS,
        swaps: LOADER_SWAPS,
    },
    Source {
        served: "file-picker/v2/loader.min.js",
        file: "@kloudless/file-picker/dist/loader/loader.min.js",
        content_type: JS,
        swaps: LOADER_SWAPS,
    },
    Source {
        served: "authenticator/v1/authenticator.js",
        file: "@kloudless/authenticator/build/kloudless-authenticator.js",
        content_type: JS,
        swaps: AUTHENTICATOR_SWAPS,
    },
    Source {
        served: "authenticator/v1/authenticator.min.js",
        file: "@kloudless/authenticator/build/kloudless-authenticator.min.js",
        content_type: JS,
        swaps: AUTHENTICATOR_SWAPS,
    },
];

/// What one path under `/widgets/` is.
pub enum Asset {
    /// A rewritten file and its content type.
    Rewritten(Bytes, &'static str),
    /// A file of the picker's tree, relative to [`Bundles::picker_dir`].
    PickerFile(String),
    /// An image (SVG).
    Image(String),
}

/// The bundles this process serves.
pub struct Bundles {
    scripts: HashMap<&'static str, (Template, &'static str)>,
    picker_dir: Option<PathBuf>,
}

impl Bundles {
    /// Reads the bundles under `dir` (a `node_modules` folder). What is missing or not
    /// recognised is left out and logged; the rest is served.
    pub fn load(dir: &std::path::Path) -> Self {
        let mut scripts = HashMap::new();
        for source in SOURCES {
            let path = dir.join(source.file);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "widget bundle not found: it is not served (install it with `npm ci` in widgets/)");
                    continue;
                }
            };
            match Template::new(&text, source.swaps) {
                Ok(t) => {
                    scripts.insert(source.served, (t, source.content_type));
                }
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    literal = e.literal,
                    found = e.found,
                    "widget bundle is not the pinned release: it is not served"
                ),
            }
        }
        let picker_dir = dir.join("@kloudless/file-picker/dist/picker");
        let picker_dir =
            (picker_dir.is_dir() && scripts.contains_key(SOURCES[0].served)).then_some(picker_dir);
        Self {
            scripts,
            picker_dir,
        }
    }

    /// The picker's `dist/picker` folder, when it is served.
    pub fn picker_dir(&self) -> Option<&std::path::Path> {
        self.picker_dir.as_deref()
    }

    /// The asset at `path` (below `/widgets/`) for an appliance answering at `base`.
    pub fn asset(&self, path: &str, base: &str) -> Option<Asset> {
        if let Some((file, content_type)) = self.scripts.get(path) {
            return Some(Asset::Rewritten(file.render(base), content_type));
        }
        if let Some(image) = path.strip_prefix("static/") {
            return icons::svg(image).map(Asset::Image);
        }
        let file = path.strip_prefix(PICKER_DIR)?;
        self.picker_dir.as_ref()?;
        Some(Asset::PickerFile(file.to_string()))
    }
}

/// Whether `base` can go into a script's string literal as it is: the characters of a
/// URL, and none that ends a string or a script.
pub fn embeddable(base: &str) -> bool {
    base.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~:/[]%".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> Bundles {
        Bundles::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../widgets/node_modules"),
        )
    }

    /// The pinned releases (installed by the set-up commands) are all recognised: each URL
    /// this appliance replaces occurs exactly once in them.
    #[test]
    fn the_pinned_bundles_are_recognised_and_point_here() {
        let b = installed();
        assert_eq!(b.scripts.len(), SOURCES.len(), "run `npm ci` in widgets/");
        assert!(b.picker_dir().is_some());
        let Some(Asset::Rewritten(js, _)) =
            b.asset("file-picker/v2/picker/picker.js", "http://cb:9")
        else {
            panic!("picker.js")
        };
        let js = std::str::from_utf8(&js).unwrap();
        assert!(js.contains(r#"base_url:String("http://cb:9")"#));
        assert!(js.contains(r#"static_path:"http://cb:9/widgets/static""#));
        assert!(!js.contains("kloudless.com\""));
        let Some(Asset::Rewritten(loader, _)) =
            b.asset("file-picker/v2/loader.min.js", "http://cb:9")
        else {
            panic!("loader")
        };
        let loader = std::str::from_utf8(&loader).unwrap();
        assert_eq!(
            loader
                .matches("\"http://cb:9/widgets/file-picker/v2/picker/index.html\"")
                .count(),
            2
        );
        assert!(!loader.contains("static-cdn.kloudless.com"));
        let Some(Asset::Rewritten(auth, _)) =
            b.asset("authenticator/v1/authenticator.min.js", "http://cb:9")
        else {
            panic!("authenticator")
        };
        assert!(std::str::from_utf8(&auth)
            .unwrap()
            .contains(r#"baseUrl:"http://cb:9""#));
    }

    #[test]
    fn a_missing_folder_serves_nothing_but_images() {
        let b = Bundles::load(std::path::Path::new("/nonexistent"));
        assert!(b.asset("file-picker/v2/loader.js", "http://x").is_none());
        assert!(b
            .asset("file-picker/v2/picker/index.html", "http://x")
            .is_none());
        assert!(matches!(
            b.asset("static/webapp/sources/box.png", "http://x"),
            Some(Asset::Image(_))
        ));
    }

    #[test]
    fn only_url_characters_are_embedded() {
        assert!(embeddable("https://cb.example:8443"));
        assert!(embeddable("http://[::1]:80"));
        for bad in [
            "http://x\"",
            "http://x'",
            "http://x\\",
            "http://x</script>",
            "http://x y",
        ] {
            assert!(!embeddable(bad), "{bad}");
        }
    }
}
