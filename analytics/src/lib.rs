//! Native analytics over a session's files with polars and plotters: a dataset's profile, the
//! Coder's calculations verified into `citations.json`, charts from a spec. Runs as the helper
//! process `dynamic-executor-analytics`, which the server starts inside the session's sandbox
//! for each request (data files are untrusted input: never parsed in the server), and as a CLI.

pub mod chart;
pub mod citations;
pub mod dates;
pub mod error;
pub mod expected;
pub mod formula;
pub mod load;
pub mod profile;
pub mod values;
pub mod verify;
pub mod workspace;
pub mod xlsx;

use dynexec_analytics_protocol::{Reply, Request};
use error::Result;
use std::time::Instant;
use workspace::Root;

/// Answers one request against the files under `root`.
pub fn run(request: &Request, root: &Root, font: Option<&str>) -> Reply {
    let started = Instant::now();
    let ms = || started.elapsed().as_secs_f64() * 1000.0;
    let answer = || -> Result<Reply> {
        Ok(match request {
            Request::Profile(req) => {
                let path = root.existing(&req.path)?;
                let loaded = load::load(&path, &req.path)?;
                let mut p = profile::profile(req, &loaded)?;
                p.duration_ms = ms();
                Reply::Profile(p)
            }
            Request::Verify(req) => {
                let mut r = verify::verify(req, root)?;
                r.duration_ms = ms();
                Reply::Verify(r)
            }
            Request::Chart(req) => {
                let mut c = chart::chart(req, root, font)?;
                c.duration_ms = ms();
                Reply::Chart(c)
            }
        })
    };
    answer().unwrap_or_else(|e| Reply::Error(e.to_helper()))
}
