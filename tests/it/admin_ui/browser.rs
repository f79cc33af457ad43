//! The browser of the web admin's tests: our own chromedriver process (killed by pid on drop) and a
//! headless Chromium session, with bounded waits, clicks that survive a re-render, field errors,
//! and screenshots at desktop and phone width; plus the server and API calls the tests share.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use crate::support::{TestServer, have_tool, request};

pub(super) const TOKEN: &str = "admin-ui-test-token-0123456789";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser and its driver are installed (required under `MAILU_GIT_REQUIRE_ALL=1`).
pub(super) fn have_browser() -> bool {
    have_tool(CHROMEDRIVER) && have_tool(CHROMIUM)
}

/// A headless Chromium session through our own chromedriver process (killed by pid on drop).
pub(super) struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Child,
    pub(super) base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(super) async fn start(server_url: &str) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group, which the browser it starts joins: a test that panics before
        // `quit` still ends them all (Drop kills the group, by its id).
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // No crash handler: it would leave the process group and outlive the test.
            "--disable-crash-reporter",
            "--disable-breakpad",
            "--window-size=1280,900",
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .unwrap();
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
            .await
            .expect("a browser session");
        Browser {
            driver: Some(driver),
            chromedriver,
            base: format!("{server_url}/admin/"),
            _profile: profile,
        }
    }

    pub(super) fn d(&self) -> &WebDriver {
        self.driver.as_ref().unwrap()
    }

    pub(super) async fn quit(mut self) {
        if let Some(driver) = self.driver.take() {
            driver.quit().await.unwrap();
        }
    }

    pub(super) async fn js(&self, script: &str) -> Value {
        self.d()
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
            .json()
            .clone()
    }

    /// Waits (bounded) until the JS expression is truthy; panics naming what was awaited, with the
    /// page's text.
    pub(super) async fn wait(&self, expr: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.js(&format!("return !!({expr});")).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.js("return document.body.innerText;").await;
                panic!("timed out waiting for {what} ({expr}); the page shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Goes to a route and waits for its heading.
    pub(super) async fn open(&self, route: &str, heading: &str) {
        self.d()
            .goto(format!("{}#/{route}", self.base))
            .await
            .unwrap();
        self.wait_heading(heading).await;
        // A page whose data failed to load keeps its heading: look for the failure too.
        let failed = self
            .js("return document.querySelector('main').textContent.includes('This page cannot be shown');")
            .await;
        assert_eq!(failed, json!(false), "{route} failed to load");
    }

    pub(super) async fn wait_heading(&self, heading: &str) {
        let h = serde_json::to_string(heading).unwrap();
        self.wait(
            &format!("document.querySelector('main h1') && document.querySelector('main h1').textContent === {h}"),
            &format!("the heading {heading}"),
        )
        .await;
    }

    pub(super) async fn type_into(&self, css: &str, text: &str) {
        let e = self.d().find(By::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub(super) async fn click(&self, css: &str) {
        self.click_by(By::Css(css)).await;
    }

    /// Clicks an element; a page that re-renders between the find and the click (a stale element)
    /// is retried, a bounded number of times.
    pub(super) async fn click_by(&self, by: By) {
        let mut last = None;
        for _ in 0..50 {
            match self.d().find(by.clone()).await {
                Ok(e) => match e.click().await {
                    Ok(()) => return,
                    Err(err) => last = Some(err.to_string()),
                },
                Err(err) => last = Some(err.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot click {by:?}: {last:?}");
    }

    pub(super) async fn click_button(&self, text: &str) {
        self.click_by(By::XPath(format!("//main//button[text()='{text}']")))
            .await;
    }

    /// The error line of the field named `name`.
    pub(super) async fn field_error(&self, name: &str) -> String {
        let v = self
            .js(&format!(
                "const i = document.querySelector('main [name=\"{name}\"]'); \
                 return i ? i.closest('.field').querySelector('.field-error').textContent : null;"
            ))
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    pub(super) async fn value(&self, name: &str) -> String {
        self.js(&format!(
            "return document.querySelector('main [name=\"{name}\"]').value;"
        ))
        .await
        .as_str()
        .unwrap()
        .to_owned()
    }

    pub(super) async fn notice(&self) -> String {
        self.js("return document.getElementById('notice').textContent;")
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until the notice says which version the last change became; returns its number.
    pub(super) async fn became_version(&self) -> u64 {
        self.wait(
            "document.querySelector('#notice [data-version]')",
            "the version the change became",
        )
        .await;
        self.js("return Number(document.querySelector('#notice [data-version]').dataset.version);")
            .await
            .as_u64()
            .unwrap()
    }

    /// Confirms the open confirmation dialog.
    pub(super) async fn confirm(&self) {
        self.wait(
            "document.getElementById('confirm').open",
            "the confirmation",
        )
        .await;
        self.click("#confirm-ok").await;
    }

    pub(super) async fn sign_in(&self) {
        self.sign_in_with(TOKEN).await;
    }

    pub(super) async fn sign_in_with(&self, token: &str) {
        self.d().goto(self.base.clone()).await.unwrap();
        self.wait_heading("Sign in").await;
        self.type_into("main [name=token]", token).await;
        self.click("main button[type=submit]").await;
        // Sign-in leads to the first run while the configuration is on the template's example
        // values (these tests' servers are), else to the dashboard.
        self.wait(
            "document.querySelector('main h1') && ['Dashboard', 'First run'].includes(document.querySelector('main h1').textContent)",
            "the first page after sign-in",
        )
        .await;
    }

    /// Saves a screenshot of the current page at desktop and phone width.
    pub(super) async fn screenshots(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-ui");
        std::fs::create_dir_all(&dir).unwrap();
        for (size, w, h) in [("desktop", 1280, 900), ("phone", 390, 844)] {
            self.d().set_window_rect(0, 0, w, h).await.unwrap();
            // Layout settles on the next frame; the screenshot is of what a person would see.
            self.js("return new Promise((r) => requestAnimationFrame(() => r(true)));")
                .await;
            let png = self.d().screenshot_as_png().await.unwrap();
            std::fs::write(dir.join(format!("{name}-{size}.png")), png).unwrap();
            // The page fits the width: only wide tables and diffs scroll, inside their own box.
            let overflow = self
                .js("return document.documentElement.scrollWidth - window.innerWidth;")
                .await;
            assert!(
                overflow.as_i64().unwrap() <= 0,
                "{name} is wider than the {size} window by {overflow} px"
            );
        }
        self.d().set_window_rect(0, 0, 1280, 900).await.unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid: chromedriver and the browser it started.
        let group = format!("-{}", self.chromedriver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

pub(super) fn server() -> TestServer {
    TestServer::start_env(&[("MAILU_GIT_ADMIN_TOKEN", TOKEN)])
}

/// A request to the API from a test that runs inside the browser's runtime.
pub(super) async fn call(
    url: String,
    method: &'static str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let full = format!("{url}/api/v1/{path}");
    tokio::task::spawn_blocking(move || {
        let r = request(method, &full, TOKEN, body);
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    })
    .await
    .unwrap()
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
