//! Thin, typed wrappers over the Linux calls the service needs beyond std and tokio.

pub mod fdpass;
pub mod idle;
pub mod kernel_file;
pub mod mpl_cache;
pub mod procs;
pub mod shared_dirs;
pub mod sweep;
