//! What the object-store layer can fail with (converted to the HTTP error in `crate::error`).

use crate::paths::PathError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be built from the configuration.
    #[error("object store configuration: {0}")]
    Config(String),
    /// A bucket other than the one this executor serves.
    #[error("bucket `{0}` is not this executor's bucket (`{1}`)")]
    OtherBucket(String, String),
    /// A key, prefix or bucket name we do not accept.
    #[error("{0}")]
    BadKey(String),
    /// A workspace path that cannot be read or written.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The objects would take the workspace past its quota.
    #[error(
        "the transfer ({needed} bytes) would take the workspace past its {quota_mb} MiB disk quota"
    )]
    Quota { needed: u64, quota_mb: u64 },
    /// No object at that key.
    #[error("no object `{0}` in the store")]
    Missing(String),
    /// The store failed (after every try).
    #[error("object store: `{key}`: {message}")]
    Transfer { key: String, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;
