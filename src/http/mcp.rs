//! MCP at `/mcp` (Streamable HTTP, the official Rust SDK `rmcp`): tools over the same sessions
//! as the REST API. A call that names no `session_id` works in its MCP session's own executor
//! session, made at the first such call and deleted when the MCP session ends; `create_session`
//! makes one that outlives it (until `delete_session` or the idle timeout), and a `session_id`
//! names any existing one — so a REST client and an MCP client can work in one session.
//! Errors come back as MCP tool errors carrying the REST API's `{"error": {code, message}}`.

use crate::error::{ApiError, ApiResult};
use crate::executions::ExecutionResult;
use crate::http::{analytics, workspace, AppState};
use crate::paths::RelPath;
use crate::sessions::{ExecSpec, Session, Submitted};
use crate::worker::protocol::Language;
use base64::Engine as _;
use dynexec_analytics_protocol::{ChartRequest, ProfileFormat, ProfileRequest, VerifyRequest};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// What `read_file` and the images of `run_python` return inline, at most.
const INLINE_BYTES: u64 = 8 << 20;

/// The `/mcp` service: one [`Tools`] per MCP session.
pub fn service(state: AppState) -> StreamableHttpService<Tools, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default().with_sse_keep_alive(Some(
        std::time::Duration::from_secs_f64(state.config.heartbeat_s.max(1.0)),
    ));
    // Behind a load balancer the Host is the balancer's name: check it only when the operator
    // lists the names (EXECUTOR_MCP_ALLOWED_HOSTS), as the REST API does not check it either.
    config = if state.config.mcp_allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(state.config.mcp_allowed_hosts.clone())
    };
    // An MCP session lives as long as an idle executor session does (rmcp's default is 5
    // minutes: an agent thinking longer between two calls would lose its variables).
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(std::time::Duration::from_secs(
        state.config.idle_ttl_s.max(1),
    ));
    StreamableHttpService::new(
        move || Ok(Tools::new(state.clone())),
        Arc::new(sessions),
        config,
    )
}

/// Sets the sticky cookie on the response that opens an MCP session (it carries
/// `mcp-session-id`): behind an ALB with application-cookie stickiness on that cookie (or any
/// cookie-sticky balancer) the client's cookie jar then keeps the MCP session on this instance.
pub fn stick<B>(cookie: &str, r: &mut axum::http::Response<B>) {
    let Some(id) = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let value = format!("{cookie}=mcp-{id}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
        r.headers_mut().append(axum::http::header::SET_COOKIE, v);
    }
}

/// The session an MCP session works in when a call names none.
struct Current {
    id: String,
    /// Made by a call that named no session (not by `create_session`): it belongs to this MCP
    /// session and is deleted with it.
    implicit: bool,
}

/// The MCP session's state, shared by the clones of its [`Tools`]; dropped with the last one,
/// when the MCP session ends.
struct Owned {
    current: Mutex<Option<Current>>,
    state: AppState,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(Current { id, implicit: true }) = self.current.lock().unwrap().take() {
            delete_later(&self.state, id);
        }
    }
}

/// Deletes a session on the runtime without waiting for it (a drop cannot await).
fn delete_later(state: &AppState, id: String) {
    let sessions = state.sessions.clone();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = sessions.delete(&id).await;
        });
    }
}

#[derive(Clone)]
pub struct Tools {
    state: AppState,
    owned: Arc<Owned>,
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct SessionArg {
    /// An existing session (e.g. one a REST client made); default: this MCP session's own.
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ProfileDataset {
    /// An existing session; default: this MCP session's own.
    #[serde(default)]
    session_id: Option<String>,
    #[serde(flatten)]
    request: ProfileRequest,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct VerifyCalculations {
    /// An existing session; default: this MCP session's own.
    #[serde(default)]
    session_id: Option<String>,
    #[serde(flatten)]
    request: VerifyRequest,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct RenderChart {
    /// An existing session; default: this MCP session's own.
    #[serde(default)]
    session_id: Option<String>,
    #[serde(flatten)]
    request: ChartRequest,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct RunPython {
    /// Python source. Variables, imports and data frames persist between calls.
    code: String,
    /// Seconds before the code is interrupted (default: the server's).
    #[serde(default)]
    timeout_s: Option<f64>,
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct RunShell {
    /// A shell command line, run with bash in the session's workspace.
    command: String,
    #[serde(default)]
    timeout_s: Option<f64>,
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Text,
    Base64,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct UploadFile {
    /// Where in the workspace, e.g. `data/sales.csv`.
    path: String,
    /// The file's content: UTF-8 text, or base64 with `encoding: "base64"`.
    content: String,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ReadFile {
    /// A path in the workspace, e.g. `artifacts/chart.png`.
    path: String,
    #[serde(default)]
    session_id: Option<String>,
}

fn tool_error(e: ApiError) -> CallToolResult {
    let body = json!({"error": {"code": e.code(), "message": e.message()}});
    CallToolResult::error(vec![ContentBlock::text(body.to_string())])
}

fn json_text(v: &impl serde::Serialize) -> ContentBlock {
    ContentBlock::text(serde_json::to_string_pretty(v).unwrap_or_default())
}

fn image_mime(path: &str) -> Option<&'static str> {
    match crate::artifacts::mime_for(path) {
        m @ ("image/png" | "image/jpeg" | "image/gif" | "image/webp") => Some(m),
        _ => None,
    }
}

impl Tools {
    fn new(state: AppState) -> Tools {
        Tools {
            owned: Arc::new(Owned {
                current: Mutex::new(None),
                state: state.clone(),
            }),
            state,
            tool_router: Self::tool_router(),
        }
    }

    /// The session a call names, else this MCP session's current one (made on first use).
    async fn session(&self, named: Option<String>) -> ApiResult<Arc<Session>> {
        if let Some(id) = named {
            return Ok(self.state.sessions.get(&id)?);
        }
        let current = self
            .owned
            .current
            .lock()
            .unwrap()
            .as_ref()
            .map(|c| c.id.clone());
        if let Some(s) = current.and_then(|id| self.state.sessions.get(&id).ok()) {
            return Ok(s);
        }
        self.new_session(true).await
    }

    /// A new session that becomes the current one; an implicit previous one is deleted.
    async fn new_session(&self, implicit: bool) -> ApiResult<Arc<Session>> {
        if self.state.drain.is_draining() {
            return Err(ApiError::Draining);
        }
        let session = self.state.sessions.create(None).await?;
        let id = session.id.clone();
        let previous = self
            .owned
            .current
            .lock()
            .unwrap()
            .replace(Current { id, implicit });
        if let Some(Current { id, implicit: true }) = previous {
            delete_later(&self.state, id);
        }
        Ok(session)
    }

    async fn execute(
        &self,
        session_id: Option<String>,
        code: String,
        language: Language,
        timeout_s: Option<f64>,
    ) -> ApiResult<(Arc<Session>, Arc<ExecutionResult>)> {
        if self.state.drain.is_draining() {
            return Err(ApiError::Draining);
        }
        let timeout = self
            .state
            .config
            .exec_timeout(timeout_s)
            .map_err(ApiError::BadRequest)?;
        let session = self.session(session_id).await?;
        let spec = ExecSpec {
            code,
            language,
            timeout,
            fresh_namespace: false,
            wait_if_busy: false,
            trace_id: None,
        };
        let result = match session.submit(spec, None).await? {
            Submitted::Done(result, _) => result,
            Submitted::Started { journal, .. } | Submitted::Running(journal) => {
                journal.wait().await
            }
        };
        Ok((session, result))
    }

    /// The result as JSON text, then each image the execution wrote as image content.
    async fn result_content(
        &self,
        session: &Arc<Session>,
        result: &ExecutionResult,
    ) -> CallToolResult {
        let mut content = vec![json_text(result)];
        for path in &result.artifacts {
            let Some(mime) = image_mime(path) else {
                continue;
            };
            let Ok(rel) = RelPath::parse(path) else {
                continue;
            };
            if let Ok(bytes) = workspace::read(session, rel, INLINE_BYTES).await {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                content.push(ContentBlock::text(format!("{path}:")));
                content.push(ContentBlock::image(data, mime));
            }
        }
        if result.status == crate::executions::Outcome::Ok {
            CallToolResult::success(content)
        } else {
            CallToolResult::error(content)
        }
    }
}

#[tool_router]
impl Tools {
    #[tool(
        description = "Start a new sandboxed Python session; later calls without session_id use it. Returns its session_id (REST clients can use it too); it lives until delete_session or its idle timeout."
    )]
    async fn create_session(&self) -> CallToolResult {
        match self.new_session(false).await {
            Ok(s) => CallToolResult::success(vec![json_text(&s.info())]),
            Err(e) => tool_error(e),
        }
    }

    #[tool(
        description = "Run Python code in the session (pandas, numpy, matplotlib, seaborn, scikit-learn preloaded; no network). State persists between calls. Returns stdout, stderr, error and the artifacts written; charts saved under artifacts/ come back as images."
    )]
    async fn run_python(&self, Parameters(p): Parameters<RunPython>) -> CallToolResult {
        match self
            .execute(p.session_id, p.code, Language::Python, p.timeout_s)
            .await
        {
            Ok((session, result)) => self.result_content(&session, &result).await,
            Err(e) => tool_error(e),
        }
    }

    #[tool(description = "Run a shell command (bash) in the session's workspace.")]
    async fn run_shell(&self, Parameters(p): Parameters<RunShell>) -> CallToolResult {
        match self
            .execute(p.session_id, p.command, Language::Shell, p.timeout_s)
            .await
        {
            Ok((session, result)) => self.result_content(&session, &result).await,
            Err(e) => tool_error(e),
        }
    }

    #[tool(
        description = "Write a file into the session's workspace (text, or base64 with encoding=base64), e.g. data/sales.csv."
    )]
    async fn upload_file(&self, Parameters(p): Parameters<UploadFile>) -> CallToolResult {
        let run = async {
            let rel = RelPath::parse(&p.path)?;
            let body = match p.encoding {
                Encoding::Text => p.content.into_bytes(),
                Encoding::Base64 => base64::engine::general_purpose::STANDARD
                    .decode(p.content.as_bytes())
                    .map_err(|e| ApiError::BadRequest(format!("content is not base64: {e}")))?,
            };
            let session = self.session(p.session_id).await?;
            workspace::upload(&session, &self.state.config, rel, body.into()).await
        };
        match run.await {
            Ok(up) => CallToolResult::success(vec![json_text(&up)]),
            Err(e) => tool_error(e),
        }
    }

    #[tool(
        description = "Read a file from the session's workspace: text as text, images as image content, other binary files as base64."
    )]
    async fn read_file(&self, Parameters(p): Parameters<ReadFile>) -> CallToolResult {
        let run = async {
            let rel = RelPath::parse(&p.path)?;
            let session = self.session(p.session_id).await?;
            workspace::read(&session, rel, INLINE_BYTES).await
        };
        match run.await {
            Ok(bytes) => {
                let b64 = || base64::engine::general_purpose::STANDARD.encode(&bytes);
                let block = match (image_mime(&p.path), std::str::from_utf8(&bytes)) {
                    (Some(mime), _) => ContentBlock::image(b64(), mime),
                    (None, Ok(text)) => ContentBlock::text(text),
                    (None, Err(_)) => json_text(&json!({"path": p.path, "base64": b64()})),
                };
                CallToolResult::success(vec![block])
            }
            Err(e) => tool_error(e),
        }
    }

    #[tool(description = "List the files in the session's workspace (path, size, mtime).")]
    async fn list_files(&self, Parameters(p): Parameters<SessionArg>) -> CallToolResult {
        let run = async { workspace::files(&self.session(p.session_id).await?).await };
        match run.await {
            Ok(files) => CallToolResult::success(vec![json_text(&json!({ "files": files }))]),
            Err(e) => tool_error(e),
        }
    }

    #[tool(
        description = "List the session's artifacts (files under artifacts/): path, size, sha256, mime, the execution that wrote it."
    )]
    async fn list_artifacts(&self, Parameters(p): Parameters<SessionArg>) -> CallToolResult {
        let run = async { workspace::artifacts(&self.session(p.session_id).await?).await };
        match run.await {
            Ok(items) => CallToolResult::success(vec![json_text(&json!({ "artifacts": items }))]),
            Err(e) => tool_error(e),
        }
    }

    #[tool(
        description = "Profile a data file of the workspace (CSV with its delimiter and encoding - UTF-8, BOM, CP949 - sniffed, Parquet, JSON/NDJSON, xlsx): per column its type, nulls, distinct values, min/max, mean, std, quartiles and most frequent values. format=markdown returns the same as a compact table."
    )]
    async fn profile_dataset(&self, Parameters(p): Parameters<ProfileDataset>) -> CallToolResult {
        let mut request = p.request;
        let markdown = request.format == ProfileFormat::Markdown;
        let run = async {
            let session = self.session(p.session_id).await?;
            if !markdown {
                request.format = ProfileFormat::Json;
            }
            analytics::profile(&session, request).await
        };
        match run.await {
            Ok(profile) => match &profile.markdown {
                Some(md) => CallToolResult::success(vec![ContentBlock::text(md.clone())]),
                None => CallToolResult::success(vec![json_text(&profile)]),
            },
            Err(e) => tool_error(e),
        }
    }

    #[tool(
        description = "Recompute every calculation of artifacts/calculation_metadata.json from its source_file (its SQL `query` over table `data`, else its formula: SUM/AVG/COUNT/COUNT(DISTINCT)/MIN/MAX/MEDIAN/STD with WHERE and arithmetic) and write artifacts/citations.json as the Validator does. Returns verified/mismatched/unverifiable counts and a reason per calculation."
    )]
    async fn verify_calculations(
        &self,
        Parameters(p): Parameters<VerifyCalculations>,
    ) -> CallToolResult {
        let run = async {
            let session = self.session(p.session_id).await?;
            analytics::verify(&session, p.request).await
        };
        match run.await {
            Ok(mut report) => {
                // The citations are in the file; the agent needs the verdicts.
                report.citations = json!({"written_to": report.output});
                CallToolResult::success(vec![json_text(&report)])
            }
            Err(e) => tool_error(e),
        }
    }

    #[tool(
        description = "Draw a bar, line, pie, scatter or histogram chart (Korean text in NanumGothic) from a workspace file (source: path, x, y, agg, group, filter, sort, limit) or from given values (data: x, series), as PNG and/or SVG under `output`. Returns the artifacts, the plotted data, and the PNG as an image."
    )]
    async fn render_chart(&self, Parameters(p): Parameters<RenderChart>) -> CallToolResult {
        let run = async {
            let session = self.session(p.session_id).await?;
            let result = analytics::chart(&session, p.request).await?;
            Ok::<_, ApiError>((session, result))
        };
        match run.await {
            Ok((session, result)) => {
                let mut content = vec![json_text(&result)];
                for a in result.artifacts.iter().filter(|a| a.mime == "image/png") {
                    let Ok(rel) = RelPath::parse(&a.path) else {
                        continue;
                    };
                    if let Ok(bytes) = workspace::read(&session, rel, INLINE_BYTES).await {
                        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                        content.push(ContentBlock::image(data, "image/png"));
                    }
                }
                CallToolResult::success(content)
            }
            Err(e) => tool_error(e),
        }
    }

    #[tool(description = "Delete a session and its files (default: this MCP session's own).")]
    async fn delete_session(&self, Parameters(p): Parameters<SessionArg>) -> CallToolResult {
        let id = {
            let mut current = self.owned.current.lock().unwrap();
            let id = p
                .session_id
                .or_else(|| current.as_ref().map(|c| c.id.clone()));
            if current.as_ref().map(|c| &c.id) == id.as_ref() {
                *current = None;
            }
            id
        };
        let Some(id) = id else {
            return tool_error(ApiError::BadRequest(
                "no session to delete: name one with session_id".into(),
            ));
        };
        match self.state.sessions.delete(&id).await {
            Ok(()) => CallToolResult::success(vec![json_text(&json!({ "deleted": id }))]),
            Err(e) => tool_error(e.into()),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "dynamic-executor",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Sandboxed Python sessions for data analysis. run_python keeps state between \
                 calls; save charts under artifacts/ to get them back as images.",
            )
    }
}
