//! Profile, verify and charts — what the REST handlers and the MCP tools both call: the request
//! goes to the session's analytics helper (in its sandbox), `duration_ms` becomes the whole
//! server-side time (helper start, sandbox entry, the work, the reply).

use crate::error::{ApiError, ApiResult};
use crate::sessions::Session;
use dynexec_analytics_protocol::{
    ChartRequest, ChartResult, Profile, ProfileRequest, Reply, Request, VerifyReport, VerifyRequest,
};
use std::sync::Arc;
use std::time::Instant;

async fn ask(session: &Arc<Session>, request: Request) -> ApiResult<(Reply, f64)> {
    let t0 = Instant::now();
    let reply = session.analyze(request).await?;
    Ok((reply, t0.elapsed().as_secs_f64() * 1000.0))
}

fn unexpected(r: &Reply) -> ApiError {
    ApiError::Internal(format!("the analytics helper answered out of turn: {r:?}"))
}

pub async fn profile(session: &Arc<Session>, req: ProfileRequest) -> ApiResult<Profile> {
    match ask(session, Request::Profile(req)).await? {
        (Reply::Profile(mut p), ms) => {
            p.duration_ms = ms;
            Ok(p)
        }
        (other, _) => Err(unexpected(&other)),
    }
}

pub async fn verify(session: &Arc<Session>, req: VerifyRequest) -> ApiResult<VerifyReport> {
    match ask(session, Request::Verify(req)).await? {
        (Reply::Verify(mut v), ms) => {
            v.duration_ms = ms;
            Ok(v)
        }
        (other, _) => Err(unexpected(&other)),
    }
}

pub async fn chart(session: &Arc<Session>, req: ChartRequest) -> ApiResult<ChartResult> {
    match ask(session, Request::Chart(req)).await? {
        (Reply::Chart(mut c), ms) => {
            c.duration_ms = ms;
            Ok(c)
        }
        (other, _) => Err(unexpected(&other)),
    }
}
