//! The conformance suite's recursive listings: `recursive=true` on folder contents lists
//! a whole subtree, paged in the service's own paging, where the service can
//! (`can_list_recursively`: S3 and Dropbox), and answers 501 elsewhere.

use serde_json::{json, Value};

use crate::helpers::{assert_error, Caller};

const STORAGE: &str = "/v1/accounts/me/storage";

/// The services whose folders list recursively.
fn lists_recursively(service: &str) -> bool {
    matches!(service, "s3" | "s3_compatible" | "dropbox")
}

/// Makes folder `name` in `parent`; returns its id.
async fn mkdir(a: &Caller, parent: &str, name: &str) -> String {
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": name, "parent_id": parent}),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body["id"].as_str().unwrap().to_string()
}

/// Every item's path below folder `id`, walked folder by folder with plain listings.
async fn walked(a: &Caller, id: &str) -> Vec<String> {
    let (mut found, mut folders) = (Vec::new(), vec![id.to_string()]);
    while let Some(folder) = folders.pop() {
        let mut page = Value::from(1);
        loop {
            let list = a
                .get_json(&format!(
                    "{STORAGE}/folders/{folder}/contents?page_size=1000&page={}",
                    page.as_str().map_or(page.to_string(), str::to_string)
                ))
                .await;
            for item in list["objects"].as_array().unwrap() {
                found.push(item["path"].as_str().unwrap().to_string());
                if item["type"] == "folder" {
                    folders.push(item["id"].as_str().unwrap().to_string());
                }
            }
            match &list["next_page"] {
                Value::Null => break,
                next => page = next.clone(),
            }
        }
    }
    found.sort();
    found
}

/// Recursive listings of `docs` (a folder with files and an empty folder in it), after
/// nesting two levels more in it; the nesting is removed again.
pub(crate) async fn recursive(a: &Caller, service: &str, docs_id: &str) {
    let expected = lists_recursively(service);
    let folder = a.get_json(&format!("{STORAGE}/folders/{docs_id}")).await;
    assert_eq!(
        folder["can_list_recursively"], expected,
        "{service}: {folder}"
    );
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(
        caps["properties"]["capabilities"]["can_list_recursively"]["value"], expected,
        "{caps}"
    );
    let contents = format!("{STORAGE}/folders/{docs_id}/contents?recursive=true&page_size=3");
    if !expected {
        let r = a.get(&contents).await;
        assert_error(r, 501, "not_implemented").await;
        return;
    }
    let nested = mkdir(a, docs_id, "nested").await;
    let inner = mkdir(a, &nested, "inner").await;
    for (parent, name) in [(&nested, "deep.txt"), (&inner, "deeper.txt")] {
        let r = a.upload(parent, name, "below").await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let want = walked(a, docs_id).await;
    assert!(
        want.iter().any(|p| p.ends_with("/nested/inner/deeper.txt")),
        "{want:?}"
    );

    // Follow `next_page` to the end: every item below once, three at a time.
    let paths = |list: &Value| -> Vec<String> {
        let objects = list["objects"].as_array().unwrap();
        assert!(objects.len() <= 3, "{list}");
        objects
            .iter()
            .map(|o| o["path"].as_str().unwrap().to_string())
            .collect()
    };
    let mut list = a.get_json(&contents).await;
    let (mut got, mut pages, mut second) = (paths(&list), 1, None);
    while let Some(next) = list["next_page"].as_str().map(str::to_string) {
        list = a.get_json(&format!("{contents}&page={next}")).await;
        got.extend(paths(&list));
        pages += 1;
        second.get_or_insert_with(|| paths(&list));
        // A recursive listing's token continues no plain listing of the folder.
        if pages == 2 {
            let plain = format!("{STORAGE}/folders/{docs_id}/contents?page_size=3&page={next}");
            assert_error(a.get(&plain).await, 400, "invalid_parameters").await;
        }
    }
    assert!(list["next_page"].is_null(), "{list}");
    assert!(pages > 2, "{pages} pages");
    got.sort();
    assert_eq!(got, want, "every item below the folder once");
    let numbered = a.get_json(&format!("{contents}&page=2")).await;
    assert_eq!(Some(paths(&numbered)), second, "page 2 by number");

    let r = a
        .delete(&format!("{STORAGE}/folders/{nested}?recursive=true"))
        .await;
    assert_eq!(r.status(), 204);
}
