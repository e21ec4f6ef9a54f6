//! Credentials from the ECS container credentials endpoint: the Fargate task role.
//!
//! Hand-written because `object_store` cannot do what the AWS SDKs do here: it reads
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` only at the fixed `169.254.170.2` (so the path
//! cannot be exercised against a loopback stand-in), and `AWS_CONTAINER_CREDENTIALS_FULL_URI`
//! only together with a token *file* (the SDKs also take `AWS_CONTAINER_AUTHORIZATION_TOKEN`).
//! The response is the documented JSON (`AccessKeyId`, `SecretAccessKey`, `Token`,
//! `Expiration`); credentials are cached until five minutes before they expire.

use async_trait::async_trait;
use object_store::aws::AwsCredential;
use object_store::CredentialProvider;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The ECS agent's address for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const ECS_ENDPOINT: &str = "http://169.254.170.2";
/// Used when the endpoint gives no parsable expiry.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(10 * 60);
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
pub struct ContainerCredentials {
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    client: reqwest::Client,
    cache: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Instant)>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Response {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

impl ContainerCredentials {
    /// From the standard variables, when the environment names a container endpoint and no
    /// static keys; `endpoint` replaces `http://169.254.170.2` for the relative form.
    pub fn from_env(endpoint: &str) -> Option<ContainerCredentials> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if var("AWS_ACCESS_KEY_ID").is_some() || var("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
            return None;
        }
        let url = match (
            var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(rel), _) => format!("{}{rel}", endpoint.trim_end_matches('/')),
            (None, Some(full)) => full,
            (None, None) => return None,
        };
        Some(ContainerCredentials {
            url,
            token: var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            cache: tokio::sync::Mutex::new(None),
        })
    }

    async fn fetch(&self) -> Result<(AwsCredential, Instant), String> {
        let mut req = self.client.get(&self.url);
        let token = match &self.token_file {
            Some(f) => Some(
                tokio::fs::read_to_string(f)
                    .await
                    .map_err(|e| format!("{}: {e}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            None => self.token.clone(),
        };
        if let Some(t) = token {
            req = req.header(reqwest::header::AUTHORIZATION, t);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("{} answered {}", self.url, resp.status()));
        }
        let r: Response = resp.json().await.map_err(|e| e.to_string())?;
        let lifetime = r
            .expiration
            .as_deref()
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
            .and_then(|t| {
                (t.with_timezone(&chrono::Utc) - chrono::Utc::now())
                    .to_std()
                    .ok()
            })
            .unwrap_or(DEFAULT_LIFETIME + REFRESH_BEFORE);
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_BEFORE);
        Ok((
            AwsCredential {
                key_id: r.access_key_id,
                secret_key: r.secret_access_key,
                token: r.token,
            },
            refresh_at,
        ))
    }
}

#[async_trait]
impl CredentialProvider for ContainerCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cache = self.cache.lock().await;
        if let Some((c, refresh_at)) = &*cache {
            if Instant::now() < *refresh_at {
                return Ok(c.clone());
            }
        }
        let (c, refresh_at) = self
            .fetch()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: format!("container credentials: {e}").into(),
            })?;
        let c = Arc::new(c);
        *cache = Some((c.clone(), refresh_at));
        Ok(c)
    }
}
