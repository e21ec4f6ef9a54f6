//! A whole Deep Insight job as its agents write it, through the compat `/execute` the unchanged
//! client uses: the Coder loads and aggregates, draws three charts with its recipe
//! (`import lovelyplots`, NanumGothic, the three styles, `savefig` into artifacts) and writes
//! `calculation_metadata.json`; the Validator re-computes every number into `citations.json`;
//! the Reporter renders markdown to a PDF with the charts and the citations. Every file is
//! checked: the charts have their Hangul (no missing glyph), the PDF's text layer has it too.

mod common;

use common::data;
use common::Server;
use serde_json::{json, Value};

fn execute(s: &Server, code: &str) -> Value {
    let r = s.post_json("/execute", &json!({ "code": code }));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "completed", "{v:#}");
    v
}

const CODER_LOAD: &str = r##"
import os, json, datetime
import pandas as pd
df = pd.read_csv('./data/sales.csv')
total = float(df['금액'].sum())
mean_qty = float(df['수량'].mean())
rows = int(df['금액'].count())
by_cat = df.groupby('카테고리')['금액'].sum().sort_values(ascending=False)
calcs = [
    {"id": "calc_001", "value": total, "description": "총 매출", "formula": "SUM(금액)",
     "source_file": "./data/sales.csv", "source_columns": ["금액"], "importance": "high"},
    {"id": "calc_002", "value": mean_qty, "description": "평균 수량", "formula": "MEAN(수량)",
     "source_file": "./data/sales.csv", "source_columns": ["수량"], "importance": "medium"},
    {"id": "calc_003", "value": rows, "description": "거래 건수", "formula": "COUNT(금액)",
     "source_file": "./data/sales.csv", "source_columns": ["금액"], "importance": "medium"},
]
os.makedirs('./artifacts', exist_ok=True)
with open('./artifacts/calculation_metadata.json', 'w', encoding='utf-8') as f:
    json.dump({"generated_at": datetime.datetime.now().isoformat(), "calculations": calcs}, f, ensure_ascii=False)
print(int(total))
"##;

/// One chart cell as the Coder's prompt makes it: lovelyplots first, NanumGothic, a style.
fn coder_chart(style: &str, name: &str) -> String {
    format!(
        r#"
import lovelyplots
import os
import warnings
import pandas as pd
import matplotlib.pyplot as plt
warnings.simplefilter('always')
plt.style.use('{style}')
plt.rcParams['font.family'] = ['NanumGothic']
df = pd.read_csv('./data/sales.csv')
by_cat = df.groupby('카테고리')['금액'].sum().sort_values(ascending=False)
fig, ax = plt.subplots(figsize=(8, 5))
ax.bar(by_cat.index, by_cat.values)
ax.set_title('카테고리별 매출 ({style})')
ax.set_xlabel('카테고리')
plt.tight_layout()
plt.savefig(os.path.join(os.path.abspath('./artifacts'), '{name}'), dpi=100)
plt.close()
print('{name}')
"#
    )
}

/// The same, styled inside a context set up after the font (the other order agents write).
const CODER_CHART_CONTEXT: &str = r##"
import lovelyplots
import os
import matplotlib.pyplot as plt
plt.rcParams['font.family'] = ['NanumGothic']
with plt.style.context('seaborn-v0_8-whitegrid'):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    ax.set_title('월별 추이')
    plt.savefig(os.path.join(os.path.abspath('./artifacts'), 'trend.png'), dpi=100)
    plt.close()
print('trend.png')
"##;

const VALIDATOR: &str = r##"
import json, datetime
import pandas as pd
meta = json.load(open('./artifacts/calculation_metadata.json', encoding='utf-8'))
citations = []
for i, c in enumerate(meta['calculations'], 1):
    df = pd.read_csv(c['source_file'])
    col = df[c['source_columns'][0]]
    f = c['formula'].split('(')[0]
    actual = {'SUM': col.sum(), 'MEAN': col.mean(), 'COUNT': col.count()}[f]
    ok = abs(float(actual) - float(c['value'])) < 0.01
    citations.append({"citation_id": f"[{i}]", "calculation_id": c['id'], "value": c['value'],
                      "description": c['description'], "formula": c['formula'],
                      "source_file": c['source_file'],
                      "verification_status": "verified" if ok else "needs_review"})
out = {"metadata": {"generated_at": datetime.datetime.now().isoformat(),
                    "total_calculations": len(meta['calculations']),
                    "cited_calculations": len(citations)},
       "citations": citations}
json.dump(out, open('./artifacts/citations.json', 'w', encoding='utf-8'), ensure_ascii=False)
print(sum(c['verification_status'] == 'verified' for c in citations))
"##;

const REPORTER: &str = r###"
import base64, io, json, os
import markdown
from PIL import Image
from weasyprint import HTML, CSS
cites = json.load(open('./artifacts/citations.json', encoding='utf-8'))['citations']
md = ["# 신선식품 매출 분석 보고서", "", "[TOC]", "", "## 요약", "",
      "| 항목 | 값 | 출처 |", "|---|---|---|"]
for c in cites:
    md.append(f"| {c['description']} | {c['value']:,.2f} | {c['citation_id']} |")
md += ["", "## 차트", ""]
html_body = markdown.markdown("\n".join(md), extensions=['tables', 'fenced_code', 'toc'])
for name in ['sales_whitegrid.png', 'sales_ggplot.png', 'trend.png']:
    Image.open(os.path.join('./artifacts', name)).verify()
    b64 = base64.b64encode(open(os.path.join('./artifacts', name), 'rb').read()).decode()
    html_body += f'<img style="width: 90%" src="data:image/png;base64,{b64}">'
html_body += "<h2>참고 문헌</h2>" + "".join(
    f"<p>{c['citation_id']} {c['description']}: {c['formula']} ({c['source_file']})</p>" for c in cites)
css = CSS(string="@font-face { font-family: 'NanumGothic'; src: local('NanumGothic'); } "
                 "body { font-family: 'NanumGothic', sans-serif; }")
HTML(string=f"<html><body>{html_body}</body></html>").write_pdf(
    './artifacts/final_report_with_citations.pdf', stylesheets=[css])
print(os.path.getsize('./artifacts/final_report_with_citations.pdf'))
"###;

fn download(s: &Server, sid: &str, path: &str) -> Vec<u8> {
    let r = s.get(&format!("/v1/sessions/{sid}/artifacts/{path}"));
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().unwrap().to_vec()
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("report.pdf");
    std::fs::write(&p, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&p)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/setup-python.sh installs it)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_whole_job_charts_cites_and_reports_in_hangul() {
    let s = Server::start();
    let d = data::synthetic_fresh_food(400, 7);
    // The compat session (`default` without SESSION_ID) is a v1 session too: the client's
    // /file-sync lands files in its ./data; here the v1 upload puts them there.
    execute(&s, "print('warm')");
    let sid = "default".to_string();
    assert_eq!(s.put_file(&sid, "data/sales.csv", d.csv).status(), 201);

    let out = execute(&s, CODER_LOAD);
    assert_eq!(out["stdout"].as_str().unwrap().trim(), d.total.to_string());

    for (style, name) in [
        ("seaborn-v0_8-whitegrid", "sales_whitegrid.png"),
        ("ggplot", "sales_ggplot.png"),
        ("fivethirtyeight", "sales_fivethirtyeight.png"),
    ] {
        let r = execute(&s, &coder_chart(style, name));
        let stderr = r["stderr"].as_str().unwrap_or("");
        assert!(!stderr.contains("missing from font"), "{style}: {r:#}");
    }
    let r = execute(&s, CODER_CHART_CONTEXT);
    assert!(!r.to_string().contains("missing from font"), "{r:#}");
    // glyph warnings go to stderr: the v1 record of the same executions has it in full
    for e in s.get_json(&format!("/v1/sessions/{sid}/executions"))["executions"]
        .as_array()
        .unwrap()
    {
        assert!(
            !e["stderr"]
                .as_str()
                .unwrap_or("")
                .contains("missing from font"),
            "a chart lost its Hangul: {}",
            e["stderr"]
        );
    }

    let verified = execute(&s, VALIDATOR);
    assert_eq!(verified["stdout"].as_str().unwrap().trim(), "3");
    let size = execute(&s, REPORTER);
    assert!(
        size["stdout"]
            .as_str()
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
            > 10_000
    );

    // every file, as the client downloads it
    for png in ["sales_whitegrid.png", "sales_ggplot.png", "trend.png"] {
        let b = download(&s, &sid, png);
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{png}");
    }
    let meta: Value =
        serde_json::from_slice(&download(&s, &sid, "calculation_metadata.json")).unwrap();
    assert_eq!(meta["calculations"].as_array().unwrap().len(), 3);
    assert_eq!(meta["calculations"][0]["value"], json!(d.total as f64));
    let cites: Value = serde_json::from_slice(&download(&s, &sid, "citations.json")).unwrap();
    assert_eq!(cites["metadata"]["cited_calculations"], 3);
    for c in cites["citations"].as_array().unwrap() {
        assert_eq!(c["verification_status"], "verified", "{c}");
    }
    let pdf = download(&s, &sid, "final_report_with_citations.pdf");
    assert_eq!(&pdf[..5], b"%PDF-");
    let text = pdf_text(&pdf);
    for needle in ["신선식품 매출 분석 보고서", "총 매출", "참고 문헌", "[1]"] {
        assert!(
            text.contains(needle),
            "the PDF's text lacks {needle:?}:\n{text}"
        );
    }
}

#[test]
fn every_module_the_agents_import_is_there() {
    let s = Server::start();
    let out = s.run_ok(
        &s.create_session(),
        "import importlib\nmods = ['pandas', 'numpy', 'matplotlib', 'seaborn', 'plotly', 'sklearn', 'lovelyplots', 'koreanize_matplotlib', 'markdown', 'weasyprint', 'docx', 'PIL', 'boto3', 'json', 'glob', 're', 'datetime', 'os', 'base64', 'io']\nmissing = []\nfor m in mods:\n    try:\n        importlib.import_module(m)\n    except Exception as e:\n        missing.append(f'{m}: {e}')\nprint(missing)",
    );
    assert_eq!(out.trim(), "[]");
    // preloaded: the first chart and the first PDF do not pay for them (koreanize_matplotlib's
    // import alone is 80-160 ms, weasyprint's ~450 ms)
    let info = s.get_json("/v1/info");
    let preloaded = common::strs(&info["preloaded_modules"]);
    for m in [
        "lovelyplots",
        "koreanize_matplotlib",
        "markdown",
        "weasyprint",
    ] {
        assert!(preloaded.contains(&m), "{m} not preloaded: {info:#}");
    }
}
