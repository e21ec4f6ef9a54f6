//! The task's private IP for `/container-info`: the client compares it with the IP it read from
//! EC2, so it must be the ENI's address.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

/// From the ECS task metadata endpoint (v4): the container's first IPv4 address.
async fn from_ecs_metadata(uri: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let v: serde_json::Value = client.get(uri).send().await.ok()?.json().await.ok()?;
    v["Networks"].as_array()?.iter().find_map(|n| {
        n["IPv4Addresses"]
            .as_array()?
            .first()?
            .as_str()
            .map(str::to_string)
    })
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// What `socket.gethostbyname(socket.gethostname())` would say, preferring a non-loopback IPv4.
fn from_hostname(name: &str) -> Option<String> {
    let addrs: Vec<IpAddr> = (name, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
    addrs
        .iter()
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .or_else(|| addrs.iter().find(|ip| ip.is_ipv4()))
        .map(IpAddr::to_string)
}

/// Config override, else ECS metadata (`ECS_CONTAINER_METADATA_URI_V4`), else the hostname.
pub async fn private_ip(configured: Option<&str>) -> String {
    if let Some(ip) = configured {
        return ip.to_string();
    }
    if let Ok(uri) = std::env::var("ECS_CONTAINER_METADATA_URI_V4") {
        if let Some(ip) = from_ecs_metadata(&uri).await {
            return ip;
        }
        tracing::warn!(uri = %uri, "ECS task metadata did not give an IPv4 address");
    }
    let host = hostname();
    tokio::task::spawn_blocking(move || from_hostname(&host))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "127.0.0.1".into())
}
