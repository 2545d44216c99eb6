//! The audit console in a real browser: Debian's Chromium driven over WebDriver
//! (chromedriver) against a real server on loopback. A customer's history is built over
//! gRPC; the console must draw the same owners as bands, answer "owner as of" as gRPC
//! does, count the pool and chart its abandon reasons, and verify the log. Without a
//! cookie every page goes to the login; a token of another organization sees nothing of
//! this one. Screenshots of each page are saved under the test's output directory (and,
//! with `CONSOLE_SCREENSHOTS=dir`, there too: the README's come from here).
//!
//! Skipped, said loudly, where chromedriver is missing, except under CI, where `.ci/run`
//! installs it and the test must run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use poolkeeper_grpc::auth::{OrganizationGrant, Scope, TokenConfig};
use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::process::free_port;
use poolkeeper_tests::{Harness, command_id, t0};

const DAY: i64 = 86_400;
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn token(name: &str, scopes: &[Scope], organization: &str) -> TokenConfig {
    let organizations = match organization {
        "*" => vec![OrganizationGrant::All],
        id => vec![OrganizationGrant::One(
            poolkeeper_grpc::organizations::OrganizationId::parse(id).expect("an id"),
        )],
    };
    TokenConfig {
        name: name.into(),
        token: format!("{name}-token-0123456789"),
        scopes: scopes.to_vec(),
        organizations,
    }
}

/// chromedriver on a free loopback port, killed when dropped; `None` where it is missing
/// outside CI.
/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn chromedriver() -> Option<(Killed, String)> {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser test: install chromium and chromium-driver"
        );
        eprintln!(
            "SKIPPED: {CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = free_port();
    let child = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Killed)
        .expect("chromedriver starts");
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((child, format!("http://127.0.0.1:{port}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(webdriver: &str) -> Client {
    let options = serde_json::json!({
        "binary": CHROMIUM,
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1000", "--lang=en-US"],
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .expect("a browser session")
}

/// Where screenshots go: the test's output directory, and `CONSOLE_SCREENSHOTS` if set.
fn screenshot_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")];
    if let Some(dir) = std::env::var_os("CONSOLE_SCREENSHOTS") {
        dirs.push(PathBuf::from(dir));
    }
    dirs
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    for dir in screenshot_dirs() {
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("screenshot written");
    }
}

/// Clicks `css` and waits until the page it leads to has replaced this one.
async fn click(browser: &Client, css: &str) {
    let old = browser.find(Locator::Css("html")).await.expect("a page");
    let element = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    element.click().await.expect("clicked");
    for _ in 0..600 {
        if old.tag_name().await.is_err() {
            browser
                .wait()
                .for_element(Locator::Css("main"))
                .await
                .expect("the next page");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} led nowhere");
}

async fn attr(browser: &Client, css: &str, name: &str) -> String {
    let element = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    element
        .attr(name)
        .await
        .expect("attribute")
        .unwrap_or_default()
}

async fn text(browser: &Client, css: &str) -> String {
    let element = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    element.text().await.expect("text")
}

async fn path(browser: &Client) -> String {
    browser.current_url().await.expect("url").path().to_owned()
}

async fn log_in(browser: &Client, base: &str, token: &str, organization: &str, user: &str) {
    browser
        .goto(&format!("{base}/login"))
        .await
        .expect("login page");
    let form = browser
        .find(Locator::Css("#token"))
        .await
        .expect("token field");
    form.send_keys(token).await.expect("token typed");
    let field = browser
        .find(Locator::Css("#organization"))
        .await
        .expect("organization field");
    field.clear().await.expect("cleared");
    field
        .send_keys(organization)
        .await
        .expect("organization typed");
    browser
        .find(Locator::Css("#user"))
        .await
        .expect("user field")
        .send_keys(user)
        .await
        .expect("user typed");
    click(browser, "#login").await;
}

/// A customer claimed by Alice, abandoned with a reason, claimed by Bob, transferred
/// back to Alice, a day apart each: its name, its pool and the two users.
struct Story {
    customer: String,
    pool: String,
    alice: String,
    bob: String,
}

async fn tell(h: &Harness) -> Story {
    let alice = h.user("Alice Wang", None).await;
    let bob = h.user("Bob Li", None).await;
    let pool = h.free_pool(&[&alice, &bob]).await;
    let customer = h.customer(&pool, "青岛海鲜贸易有限公司").await;
    h.claim(&alice, &customer).await;
    h.advance(2 * DAY).await;
    h.commands(&alice)
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            reason: "客户无预算".into(),
            ..Default::default()
        })
        .await
        .expect("abandon");
    h.advance(DAY).await;
    h.claim(&bob, &customer).await;
    h.advance(3 * DAY).await;
    h.commands(&h.admin)
        .transfer_customer(pb::TransferCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            new_owner: alice.clone(),
            reason: "account plan".into(),
            ..Default::default()
        })
        .await
        .expect("transfer");
    h.advance(DAY).await;
    Story {
        customer,
        pool,
        alice,
        bob,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_a_customers_history_a_pool_and_the_log_in_a_browser() {
    let Some((_driver, webdriver)) = chromedriver().await else {
        return;
    };
    let ops = token("ops", &Scope::ALL, "*");
    let auditor = token("auditor", &[Scope::Audit], "default");
    let acme_reader = token("acme-reader", &[Scope::Query], "acme");
    let tokens = vec![ops, auditor.clone(), acme_reader.clone()];
    let h = Harness::start_with(|config| {
        config.tokens = tokens;
        config.http_listen = Some("127.0.0.1:0".parse().expect("loopback"));
        config.console = true;
    })
    .await;
    let base = format!("http://{}", h.server.http_addr.expect("the HTTP listener"));
    let story = tell(&h).await;
    let tail = h.tail().await;
    let as_of = t0() + chrono::Duration::days(4);
    let history = h
        .queries(&h.admin)
        .get_ownership_history(pb::GetOwnershipHistoryRequest {
            customer: story.customer.clone(),
            as_of: Some(poolkeeper_grpc::convert::timestamp(as_of)),
            min_position: tail,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    let owners: Vec<String> = history.intervals.iter().map(|i| i.owner.clone()).collect();
    assert_eq!(
        owners,
        [story.alice.clone(), story.bob.clone(), story.alice.clone()]
    );
    let owner_then = history.owner_as_of.expect("owned then").owner;
    assert_eq!(owner_then, story.bob);

    let browser = browser(&webdriver).await;
    browser
        .goto(&format!("{base}/customers"))
        .await
        .expect("page");
    assert_eq!(path(&browser).await, "/login", "no cookie: the login page");

    log_in(&browser, &base, &auditor.token, "default", "").await;
    assert_eq!(path(&browser).await, "/customers");
    let cookies = browser.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "pk_token")
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");

    // The customer: found by name prefix, its owners drawn as bands in order.
    browser
        .find(Locator::Css("#q"))
        .await
        .expect("search")
        .send_keys("青岛")
        .await
        .expect("typed");
    click(&browser, "#search").await;
    click(&browser, "a.customer").await;
    let id = story.customer.trim_start_matches("customers/");
    assert_eq!(path(&browser).await, format!("/customers/{id}"));
    let mut drawn = Vec::new();
    for band in browser
        .find_all(Locator::Css("#timeline rect.band"))
        .await
        .expect("bands")
    {
        drawn.push(
            band.attr("data-owner")
                .await
                .expect("attr")
                .unwrap_or_default(),
        );
    }
    assert_eq!(drawn, owners, "one band per ownership interval, in order");
    let marks = browser
        .find_all(Locator::Css("#timeline path.mark"))
        .await
        .expect("marks");
    assert_eq!(marks.len(), 1, "the abandon is marked");
    assert_eq!(
        marks[0].attr("data-kind").await.expect("attr").as_deref(),
        Some("abandoned")
    );
    let events = browser
        .find_all(Locator::Css("#events tbody tr"))
        .await
        .expect("events");
    assert!(
        events.len() >= 5,
        "created, claimed, abandoned, claimed, transferred"
    );

    // Owner as of an instant, picked in the date-time picker: as gRPC answers.
    browser
        .execute(
            "document.getElementById('as-of').value = arguments[0];",
            vec![serde_json::json!(
                as_of.format("%Y-%m-%dT%H:%M").to_string()
            )],
        )
        .await
        .expect("picked");
    click(&browser, "#ask-owner").await;
    assert_eq!(
        attr(&browser, "#owner-as-of", "data-owner").await,
        owner_then
    );
    screenshot(&browser, "customer").await;

    // The pool: counts, abandon reasons per month, a user's holdings on a day.
    browser.goto(&format!("{base}/pools")).await.expect("pools");
    let pool_id = story.pool.trim_start_matches("pools/");
    click(&browser, &format!("a[href='/pools/{pool_id}']")).await;
    assert_eq!(text(&browser, "#count-claimed").await, "1");
    assert_eq!(text(&browser, "#count-unclaimed").await, "0");
    let bar = "#abandon-reasons rect.bar[data-reason='客户无预算']";
    assert_eq!(attr(&browser, bar, "data-count").await, "1");
    assert_eq!(attr(&browser, bar, "data-month").await, "2026-01");
    let day = (t0() + chrono::Duration::days(4)).format("%Y-%m-%d");
    browser
        .goto(&format!(
            "{base}/pools/{pool_id}?user={}&day={day}",
            story.bob
        ))
        .await
        .expect("holdings");
    assert!(
        text(&browser, "#holdings-count")
            .await
            .starts_with("1 customers of this pool")
    );
    assert_eq!(
        attr(&browser, "#holdings a.holding", "href").await,
        format!("/customers/{id}")
    );
    screenshot(&browser, "pool").await;

    // The log: its head and an intact chain.
    browser.goto(&format!("{base}/log")).await.expect("log");
    assert_eq!(text(&browser, "#head").await, tail.to_string());
    click(&browser, "#verify").await;
    assert_eq!(
        attr(&browser, "#verify-result", "data-intact").await,
        "true"
    );
    let projections = browser
        .find_all(Locator::Css("#projections tbody tr"))
        .await
        .expect("rows");
    assert_eq!(projections.len(), 5);
    screenshot(&browser, "log").await;

    // Logged out: back to the login page.
    click(&browser, "header form button").await;
    browser.goto(&format!("{base}/log")).await.expect("log");
    assert_eq!(path(&browser).await, "/login");

    // Another organization's query token sees nothing of this one.
    let acme = h
        .organizations()
        .create_organization(pb::CreateOrganizationRequest {
            command_id: command_id(),
            organization_id: "acme".into(),
            display_name: "Acme".into(),
        })
        .await
        .expect("acme")
        .into_inner();
    log_in(
        &browser,
        &base,
        &acme_reader.token,
        "default",
        &acme.admin_user,
    )
    .await;
    assert_eq!(
        path(&browser).await,
        "/login",
        "not this organization's token"
    );
    assert!(!text(&browser, "#login-error").await.is_empty());
    log_in(
        &browser,
        &base,
        &acme_reader.token,
        "acme",
        &acme.admin_user,
    )
    .await;
    assert_eq!(path(&browser).await, "/customers");
    browser
        .goto(&format!("{base}/customers?q=青岛"))
        .await
        .expect("search");
    browser
        .find(Locator::Css("#no-match"))
        .await
        .expect("nothing found");
    browser
        .goto(&format!("{base}/customers/{id}"))
        .await
        .expect("customer");
    assert!(text(&browser, "#refused").await.contains("NotFound"));
    browser.close().await.expect("the browser closes");
    h.server.stop().await.expect("a clean stop");
}
