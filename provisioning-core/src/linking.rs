//! Linking new SCIM users to accounts the product made by hand. Before creating a user, the
//! core asks the directory store (`DIRECTORY_GRPC_URL`) for the tenant's accounts with the
//! user's mapped email; when exactly one of them is not provisioned by SCIM yet, the new user
//! provisions that account instead of a second one, and its `user.created` event says so
//! (`link`). When the directory cannot answer, the create fails with 503 (the IdP retries)
//! rather than risk a duplicate account.

use std::time::Duration;

use proto::FindAccountsRequest;
use proto::credential::{Authorized, BearerInterceptor};
use proto::directory_client::DirectoryClient;
use scim::ScimError;
use secrecy::ExposeSecret;

use crate::error::CoreError;

/// The credential the core presents to the directory (`DIRECTORY_TOKEN`, the directory's
/// `DIRECTORY_INTERNAL_TOKEN`).
pub fn directory_credential(config: &crate::config::CoreConfig) -> anyhow::Result<BearerInterceptor> {
    BearerInterceptor::new(config.directory_token.as_ref().map(|token| token.expose_secret()))
        .ok_or_else(|| anyhow::anyhow!("DIRECTORY_TOKEN must be printable ASCII"))
}

#[derive(Clone)]
pub struct Linker {
    client: DirectoryClient<Authorized>,
}

impl Linker {
    /// A client of the directory at `url` (connected lazily), presenting `DIRECTORY_TOKEN`.
    pub fn new(tls: &platform::tls::ClientTls, url: &str, credential: BearerInterceptor) -> anyhow::Result<Self> {
        let channel = tls
            .endpoint(url, "DIRECTORY_GRPC_URL")?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(Self { client: DirectoryClient::with_interceptor(channel, credential) })
    }

    /// The account to link a new user with this email to, if exactly one is waiting; why none
    /// was linked, when several were, goes to `warnings`.
    pub async fn unlinked_account(
        &self,
        tenant: &str,
        email: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<String>, CoreError> {
        let request = FindAccountsRequest { tenant_id: tenant.to_owned(), email: email.to_owned() };
        let found = self.client.clone().find_accounts(request).await.map_err(|status| {
            tracing::warn!(error = %status, "the directory did not answer an account lookup for linking");
            CoreError::Scim(ScimError::new(
                503,
                None,
                "the directory is unavailable to check for an existing account; retry shortly",
            ))
        })?;
        let waiting: Vec<String> = found
            .into_inner()
            .accounts
            .into_iter()
            .filter(|account| account.scim_user_id.is_empty())
            .map(|account| account.id)
            .collect();
        match waiting.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            several => {
                warnings
                    .push(format!("{} accounts made by hand share the user's email; none was linked", several.len()));
                Ok(None)
            }
        }
    }
}
