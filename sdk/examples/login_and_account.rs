//! Who is signed in, and the ChatGPT sign-in flow as a handle.
//!
//! ```sh
//! cargo run --example login_and_account                 # start a browser login, cancel it
//! cargo run --example login_and_account -- --wait       # ... or wait (5 min) for you to sign in
//! cargo run --example login_and_account -- --offline
//! ```
//!
//! `Codex::account(refresh)` is `account/read`. `Codex::login_chatgpt()` starts the browser
//! flow and returns a `ChatgptLogin`: open its `auth_url()` in a browser on this machine
//! (the redirect goes to a login server the app-server runs on 127.0.0.1:1455), then
//! `wait()` for the outcome or `cancel()` it. `login_chatgpt_device_code()` is the flow for
//! machines without a browser (a URL and a one-time code to enter on any device);
//! `login_api_key(key)` stores an API key; `logout()` signs out.
//!
//! Offline, the sign-in is started and cancelled in the throwaway `CODEX_HOME`; nothing
//! leaves the machine (the auth URL is only printed).

mod support;

use codex_driver::types::Account;
use codex_driver::Codex;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(|_| {}).await?;
    let wait = std::env::args().any(|a| a == "--wait") && !env.is_offline();
    let codex = Codex::spawn(env.config()).await?;

    let account = codex.account().await?;
    println!("requires OpenAI auth: {}", account.requires_openai_auth);
    println!("signed in as:         {}", describe(account.account.as_ref()));

    let login = codex.login_chatgpt().await?;
    println!("\nlogin {} started", login.login_id());
    println!("open this URL in a browser on this machine to sign in:\n  {}", login.auth_url());
    if wait {
        println!("waiting up to 5 minutes...");
        if tokio::time::timeout(Duration::from_secs(300), login.wait()).await.is_err() {
            println!("timed out");
            login.cancel().await?;
        }
    } else {
        // Keep the example non-blocking: cancel right away (`--wait` waits for you instead).
        println!("cancel: {:?}", login.cancel().await?);
    }
    let outcome = login.wait().await?;
    println!("outcome: {outcome:?}");

    let account = codex.account().await?;
    println!("\nsigned in as:         {}", describe(account.account.as_ref()));
    codex.close().await;
    env.finish()
}

fn describe(account: Option<&Account>) -> String {
    match account {
        None => "nobody".into(),
        Some(Account::ApiKey(_)) => "an API key".into(),
        Some(Account::Chatgpt(a)) => {
            format!("ChatGPT {} ({:?} plan)", a.email.as_deref().unwrap_or("account"), a.plan_type)
        }
        Some(other) => format!("a {} account", other.kind()),
    }
}
