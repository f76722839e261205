//! The images the File Picker loads from its static path: a service's logo
//! (`webapp/sources/<service>.png`), the computer source and the "connect" plus sign, and
//! the icons of its style sheet (`explorer/icon/…`). They are drawn here as SVG (browsers
//! go by the content type, not the name), so the picker never reaches Kloudless's storage.

/// Grey of the icons, and of a hovered one.
const INK: &str = "#5f6368";
const INK_HOVERED: &str = "#202124";

/// The style sheet's icons: name and SVG content (24 × 24, drawn in `currentColor`).
const EXPLORER: &[(&str, &str)] = &[
    (
        "back",
        r#"<path d="M15 5l-7 7 7 7" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>"#,
    ),
    (
        "next",
        r#"<path d="M9 5l7 7-7 7" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>"#,
    ),
    (
        "close",
        r#"<path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/>"#,
    ),
    (
        "checked",
        r##"<path d="M5 12.5l4.5 4.5L19 7.5" fill="none" stroke="#1a73e8" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/>"##,
    ),
    (
        "search",
        r#"<circle cx="10.5" cy="10.5" r="6" fill="none" stroke="currentColor" stroke-width="2.2"/><path d="M15 15l5 5" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/>"#,
    ),
    (
        "folder",
        r##"<path d="M2.5 6.5A1.5 1.5 0 0 1 4 5h5l2 2h9a1.5 1.5 0 0 1 1.5 1.5v9A1.5 1.5 0 0 1 20 19H4a1.5 1.5 0 0 1-1.5-1.5z" fill="#8ab4f8"/>"##,
    ),
    (
        "new-folder",
        r##"<path d="M2.5 6.5A1.5 1.5 0 0 1 4 5h5l2 2h9a1.5 1.5 0 0 1 1.5 1.5v9A1.5 1.5 0 0 1 20 19H4a1.5 1.5 0 0 1-1.5-1.5z" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M12 10v6M9 13h6" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>"##,
    ),
    (
        "file",
        r##"<path d="M6 2.5h8l4.5 4.5v14.5H6z" fill="#fff" stroke="#9aa0a6" stroke-width="1.5" stroke-linejoin="round"/><path d="M14 2.5V7h4.5" fill="none" stroke="#9aa0a6" stroke-width="1.5" stroke-linejoin="round"/>"##,
    ),
    (
        "refresh",
        r#"<path d="M19.5 12a7.5 7.5 0 1 1-2.2-5.3M19.5 4v4.5H15" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>"#,
    ),
    (
        "root-dir",
        r#"<path d="M4 11l8-7 8 7v9h-5v-5h-6v5H4z" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/>"#,
    ),
    (
        "sort",
        r#"<path d="M8 10l4-4 4 4M8 14l4 4 4-4" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>"#,
    ),
    (
        "sort_asc",
        r#"<path d="M8 14l4-4 4 4" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>"#,
    ),
    (
        "sort_desc",
        r#"<path d="M8 10l4 4 4-4" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>"#,
    ),
    (
        "my-device",
        r#"<rect x="3" y="4" width="18" height="12" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M8 20h8M12 16v4" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>"#,
    ),
    (
        "account-manage",
        r#"<circle cx="12" cy="8" r="4" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M4 20c0-4 3.6-6 8-6s8 2 8 6" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>"#,
    ),
    (
        "brand",
        r##"<path d="M7 18a4.5 4.5 0 0 1-.6-9A6 6 0 0 1 18 10a4 4 0 0 1-.5 8z" fill="#1a73e8"/>"##,
    ),
    (
        "loading",
        r##"<circle cx="12" cy="12" r="8" fill="none" stroke="#dadce0" stroke-width="2.5"/><path d="M12 4a8 8 0 0 1 8 8" fill="none" stroke="#1a73e8" stroke-width="2.5" stroke-linecap="round"><animateTransform attributeName="transform" type="rotate" from="0 12 12" to="360 12 12" dur="0.9s" repeatCount="indefinite"/></path>"##,
    ),
];

/// The style sheet's icon at `path` below `explorer/icon/`: `name.svg`, `name-hovered.svg`
/// or `name/name@2x.png` (and `@3x`).
fn explorer(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = file
        .strip_suffix(".svg")
        .or_else(|| file.strip_suffix("@2x.png"))
        .or_else(|| file.strip_suffix("@3x.png"))?;
    let (name, ink) = match stem.strip_suffix("-hovered") {
        Some(name) => (name, INK_HOVERED),
        None => (stem, INK),
    };
    let (_, body) = EXPLORER.iter().find(|(n, _)| *n == name)?;
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" width=\"24\" \
         height=\"24\" color=\"{ink}\">{body}</svg>"
    ))
}

/// The SVG at `path` under the static path, if it is one of the picker's images.
pub fn svg(path: &str) -> Option<String> {
    if let Some(icon) = path.strip_prefix("explorer/icon/") {
        return explorer(icon);
    }
    match path {
        "launch_site/support-plus.png" => Some(plus()),
        "webapp/sources/computer.png" => Some(computer()),
        _ => {
            let service = path.strip_prefix("webapp/sources/")?.strip_suffix(".png")?;
            let plain = !service.is_empty()
                && service.len() <= 40
                && service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            plain.then(|| logo(service))
        }
    }
}

/// A tile in the service's colour with its initials.
fn logo(service: &str) -> String {
    let name = crate::wire::service_name(service);
    let initials: String = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| word.chars().next())
        .take(2)
        .collect::<String>()
        .to_ascii_uppercase();
    let colour = colour(service);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" role=\"img\" \
         aria-label=\"{name}\"><rect width=\"64\" height=\"64\" rx=\"12\" fill=\"{colour}\"/>\
         <text x=\"32\" y=\"41\" font-family=\"sans-serif\" font-size=\"24\" font-weight=\"bold\" \
         text-anchor=\"middle\" fill=\"#fff\">{initials}</text></svg>"
    )
}

/// Each service its own colour, the same on every appliance: its descriptor's, else
/// (a name the picker asks for that this appliance does not connect) one from a
/// palette, by the name.
fn colour(service: &str) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#1a73e8", "#0061fe", "#0078d4", "#2e7d32", "#c2185b", "#6a1b9a", "#ef6c00", "#455a64",
    ];
    cloudbridge_connectors::service::find(service).map_or_else(
        || {
            let hash = service
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
            PALETTE[hash % PALETTE.len()]
        },
        |s| s.colour,
    )
}

fn computer() -> String {
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" role=\"img\" \
     aria-label=\"My Computer\"><rect x=\"8\" y=\"12\" width=\"48\" height=\"32\" rx=\"3\" \
     fill=\"none\" stroke=\"#455a64\" stroke-width=\"4\"/><path d=\"M24 52h16M32 44v8\" \
     stroke=\"#455a64\" stroke-width=\"4\"/></svg>"
        .to_string()
}

fn plus() -> String {
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" role=\"img\" \
     aria-label=\"Connect\"><path d=\"M32 14v36M14 32h36\" stroke=\"#9e9e9e\" \
     stroke-width=\"6\" stroke-linecap=\"round\"/></svg>"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_picker_image_is_drawn_and_nothing_else() {
        let drive = svg("webapp/sources/gdrive.png").unwrap();
        assert!(drive.contains(">GD</text>") && drive.contains("Google Drive"));
        assert!(svg("webapp/sources/computer.png").is_some());
        assert!(svg("launch_site/support-plus.png").is_some());
        for icon in [
            "close.svg",
            "close-hovered.svg",
            "folder/folder@2x.png",
            "my-device/my-device@3x.png",
        ] {
            let drawn = svg(&format!("explorer/icon/{icon}")).unwrap();
            assert!(drawn.starts_with("<svg"), "{icon}");
        }
        for odd in [
            "webapp/sources/.png",
            "webapp/sources/<x>.png",
            "webapp/sources/a/b.png",
            "webapp/sources/gdrive.svg",
            "other/gdrive.png",
            "explorer/icon/nothing.svg",
            "explorer/icon/close.gif",
        ] {
            assert!(svg(odd).is_none(), "{odd}");
        }
    }
}
