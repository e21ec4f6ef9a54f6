//! The object store: S3 when `S3_BUCKET_NAME` is set, else an embedded local-filesystem store
//! (`<EXECUTOR_STORE_DIR>/<bucket>/<key>`, so a user sees exactly what S3 would have
//! received). One per server, built once at start, on the `object_store` crate. Moving files
//! between it and a session's workspace is `transfer`; the keys it accepts are `keys`.

pub mod container_credentials;
pub mod error;
pub mod keys;
pub mod transfer;

use crate::config::Config;
pub use error::{StoreError, StoreResult};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::{Path as ObjPath, PathPart};
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Which store the server writes to, as `/v1/info` and the start-up log show it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backend {
    S3 {
        bucket: String,
        region: Option<String>,
        endpoint: Option<String>,
    },
    Local {
        dir: PathBuf,
        bucket: String,
    },
}

pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    pub backend: Backend,
    /// The bucket completion and export write to.
    pub bucket: String,
    /// Tries per object (`EXECUTOR_STORE_TRIES`), with back-off between them.
    pub tries: u32,
    /// Objects moved at once.
    pub concurrency: usize,
    metrics: Arc<crate::metrics::Metrics>,
}

impl ObjectStorage {
    /// Builds the configured store. Credentials stay in this process: the workers' environment
    /// is built from scratch and never carries them.
    pub fn from_config(
        config: &Config,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> StoreResult<ObjectStorage> {
        let (store, backend, bucket): (Arc<dyn ObjectStore>, _, _) = match &config.s3_bucket {
            Some(bucket) => {
                keys::check_bucket(bucket)?;
                let endpoint = env_nonempty("AWS_ENDPOINT_URL_S3")
                    .or_else(|| env_nonempty("AWS_ENDPOINT_URL"))
                    .or_else(|| env_nonempty("AWS_ENDPOINT"));
                let region =
                    env_nonempty("AWS_REGION").or_else(|| env_nonempty("AWS_DEFAULT_REGION"));
                // Our own tries (per object, whole object) replace the client's: a store that
                // is down must fail the request inside the client's 10 s, not after minutes.
                let retry = RetryConfig {
                    max_retries: 0,
                    retry_timeout: Duration::from_secs(10),
                    ..Default::default()
                };
                let options = ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs_f64(
                        config.store_connect_timeout_s.max(0.1),
                    ))
                    .with_allow_http(
                        endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    );
                // from_env: keys, session token, region, the ECS container credentials
                // (RELATIVE_URI: the Fargate task role; FULL_URI with its token), web identity
                // and IMDS, as the AWS SDKs read them.
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .with_client_options(options);
                if let Some(e) = &endpoint {
                    // An S3-compatible server: path-style addressing (`<endpoint>/<bucket>`).
                    b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
                }
                if let Some(c) = container_credentials::ContainerCredentials::from_env(
                    &config.ecs_credentials_endpoint,
                ) {
                    b = b.with_credentials(Arc::new(c));
                }
                if region.is_none() {
                    b = b.with_region("us-east-1");
                }
                let s3 = b.build().map_err(|e| StoreError::Config(e.to_string()))?;
                (
                    Arc::new(s3),
                    Backend::S3 {
                        bucket: bucket.clone(),
                        region,
                        endpoint,
                    },
                    bucket.clone(),
                )
            }
            None => {
                keys::check_bucket(&config.store_bucket)?;
                // 0700: what sessions exported is not for other sessions' uids to read.
                let dir = &config.store_dir;
                std::fs::create_dir_all(dir)
                    .and_then(|()| {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    })
                    .map_err(|e| StoreError::Config(format!("{}: {e}", dir.display())))?;
                let local = LocalFileSystem::new_with_prefix(&config.store_dir)
                    .map_err(|e| StoreError::Config(e.to_string()))?
                    .with_automatic_cleanup(true);
                (
                    Arc::new(local),
                    Backend::Local {
                        dir: config.store_dir.clone(),
                        bucket: config.store_bucket.clone(),
                    },
                    config.store_bucket.clone(),
                )
            }
        };
        Ok(ObjectStorage {
            store,
            backend,
            bucket,
            tries: config.store_tries.max(1),
            concurrency: config.transfer_concurrency.max(1),
            metrics,
        })
    }

    /// The store's location for `key` in `bucket`. S3 serves its one configured bucket (a
    /// request naming another is refused: the task role is not the client's to spend); the
    /// local store keeps any valid bucket as a directory.
    pub fn location(&self, bucket: &str, key: &str) -> StoreResult<ObjPath> {
        let key = keys::parse_key(key)?;
        match &self.backend {
            Backend::S3 { bucket: ours, .. } if bucket != ours => {
                Err(StoreError::OtherBucket(bucket.into(), ours.clone()))
            }
            Backend::S3 { .. } => Ok(key),
            Backend::Local { .. } => {
                keys::check_bucket(bucket)?;
                Ok(ObjPath::from_iter(
                    std::iter::once(PathPart::from(bucket)).chain(key.parts()),
                ))
            }
        }
    }

    /// The key of a location this store returned, without the local store's bucket directory.
    fn key_of(&self, location: &ObjPath) -> String {
        match &self.backend {
            Backend::S3 { .. } => location.to_string(),
            Backend::Local { .. } => {
                let parts: Vec<_> = location.parts().skip(1).collect();
                parts
                    .iter()
                    .map(|p| p.as_ref())
                    .collect::<Vec<_>>()
                    .join("/")
            }
        }
    }

    /// Whether objects keep their content type (S3 does; the local store has nowhere to).
    fn keeps_content_type(&self) -> bool {
        matches!(self.backend, Backend::S3 { .. })
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
