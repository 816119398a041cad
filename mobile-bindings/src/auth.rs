//! The bearer token the server's endpoints want: logged in for when first needed, and
//! renewed once when the server refuses it. Shared by the client (duty, position) and the
//! background worker (sync, uploads).

use crate::transport::TransportError;
use crate::transport::http::{HttpApi, Me};
use std::future::Future;

/// The server's JSON API with this account's credentials and current token.
pub(crate) struct Auth {
    api: HttpApi,
    login: String,
    password: String,
    device_id: String,
    token: tokio::sync::Mutex<Option<String>>,
}

impl Auth {
    /// Credentials for `account`; `token` is the one the opening login got, if any.
    pub(crate) fn new(api: HttpApi, account: &Me, password: String, token: Option<String>) -> Auth {
        Auth {
            api,
            login: account.login.clone(),
            password,
            device_id: account.device_id.clone(),
            token: tokio::sync::Mutex::new(token),
        }
    }

    /// The server's JSON API.
    pub(crate) fn api(&self) -> &HttpApi {
        &self.api
    }

    /// The bearer token, logging in if there is none yet.
    pub(crate) async fn token(&self) -> Result<String, TransportError> {
        let mut token = self.token.lock().await;
        if let Some(t) = token.as_ref() {
            return Ok(t.clone());
        }
        let login = self
            .api
            .login(&self.login, &self.password, &self.device_id)
            .await?;
        *token = Some(login.token.clone());
        Ok(login.token)
    }

    /// Drops a refused token and logs in again.
    pub(crate) async fn login_again(&self) -> Result<String, TransportError> {
        self.token.lock().await.take();
        self.token().await
    }

    /// Runs an authenticated request, logging in again once if the token is refused.
    pub(crate) async fn authed<T, F, Fut>(&self, call: F) -> Result<T, TransportError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        match call(self.token().await?).await {
            Err(TransportError::Unauthorized(_)) => call(self.login_again().await?).await,
            other => other,
        }
    }
}
