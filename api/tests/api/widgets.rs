//! What the Kloudless browser widgets load from the API origin besides the API.

use crate::helpers::TestApp;

#[tokio::test]
async fn the_widgets_relay_page_is_served_without_credentials() {
    let app = TestApp::spawn().await;
    let r = app.anonymous().get("/static/iexd.html").await;
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/html"), "{kind}");
    let page = r.text().await.unwrap();
    // It relays the popup's result to the page that asked, at that page's origin only.
    assert!(page.contains("prepareToOpenAuthenticator"), "{page}");
    assert!(page.contains("postMessage(event.data, asker)"), "{page}");
}
