//! The images the File Picker loads from its static path: a service's logo
//! (`webapp/sources/<service>.png`), the computer source and the "connect" plus sign.
//! They are drawn here as SVG (browsers go by the content type, not the name), so the
//! picker never reaches Kloudless's storage for them.

/// The SVG at `path` under the static path, if it is one of the picker's images.
pub fn svg(path: &str) -> Option<String> {
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

/// Each service its own colour, the same on every appliance.
fn colour(service: &str) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#1a73e8", "#0061fe", "#0078d4", "#2e7d32", "#c2185b", "#6a1b9a", "#ef6c00", "#455a64",
    ];
    match service {
        "gdrive" => "#1a73e8",
        "dropbox" => "#0061fe",
        "onedrive" | "onedrivebiz" | "skydrive" => "#0078d4",
        "box" => "#0061d5",
        "s3" | "s3_compatible" => "#ef6c00",
        _ => {
            let hash = service
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
            PALETTE[hash % PALETTE.len()]
        }
    }
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
        for odd in [
            "webapp/sources/.png",
            "webapp/sources/<x>.png",
            "webapp/sources/a/b.png",
            "webapp/sources/gdrive.svg",
            "other/gdrive.png",
        ] {
            assert!(svg(odd).is_none(), "{odd}");
        }
    }
}
