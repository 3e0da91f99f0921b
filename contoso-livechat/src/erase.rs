//! `contoso-livechat erase-customer ID`: erases one customer's data from the command line, as
//! `DELETE /api/privacy/customers/{id}` does. With the live chat stopped it opens the store itself;
//! while it runs (it holds the data directory), it asks the running one, with the API key.

use anyhow::{bail, Context};
use secrecy::ExposeSecret;

use crate::configuration::Settings;
use crate::routes::privacy::{forget_files, CUSTOMERS_PATH, ERASURE_SENDER};
use crate::store::Store;

/// What the command did: the counts as JSON, or `None` when the live chat holds nothing of the
/// customer.
pub async fn erase_customer(settings: &Settings, customer: &str) -> anyhow::Result<Option<String>> {
    let customer = customer.trim();
    if customer.is_empty() {
        bail!("give the customer's id: contoso-livechat erase-customer CUSTOMER_ID");
    }
    match service_support::lock::DataDirLock::acquire(
        &settings.application.data_dir,
        "Contoso Live Chat",
        "LIVECHAT_DATA_DIR",
    ) {
        Ok(_lock) => erase_here(settings, customer).await,
        Err(_) => erase_through_the_running_one(settings, customer).await,
    }
}

async fn erase_here(settings: &Settings, customer: &str) -> anyhow::Result<Option<String>> {
    let store = Store::open(
        &settings.application.data_dir,
        service_support::clock::Clock::system(),
    )
    .await?;
    let files = settings.files.file_store(&settings.application.data_dir)?;
    let Some(erased) = store
        .erase_customer(customer, ERASURE_SENDER)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?
    else {
        return Ok(None);
    };
    forget_files(&store, &files, &erased.hashes).await?;
    Ok(Some(serde_json::to_string(&erased)?))
}

async fn erase_through_the_running_one(
    settings: &Settings,
    customer: &str,
) -> anyhow::Result<Option<String>> {
    let mut address = settings.application.bind;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let id = percent_encoding::utf8_percent_encode(customer, percent_encoding::NON_ALPHANUMERIC);
    let url = format!("http://{address}{CUSTOMERS_PATH}/{id}");
    let mut request = reqwest::Client::new().delete(&url);
    if let Some(key) = &settings.api.key {
        request = request.bearer_auth(key.expose_secret());
    }
    let answer = request.send().await.with_context(|| {
        format!("the data directory is in use, but the live chat does not answer at {address}")
    })?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    match status.as_u16() {
        200 => Ok(Some(body)),
        404 => Ok(None),
        _ => bail!("the running live chat refused the erasure ({status}): {body}"),
    }
}
