//! Files and artifacts: upload, list, download with Range and ETag, delete.

mod common;

use common::Server;
use serde_json::Value;

#[test]
fn upload_list_download_delete() {
    let s = Server::start();
    let sid = s.create_session();
    let up = s.put_file(
        &sid,
        "data/nested/매출.csv",
        "a,b\n1,2\n".as_bytes().to_vec(),
    );
    assert_eq!(up.status(), 201);
    let up: Value = up.json().unwrap();
    assert_eq!(up["path"], "data/nested/매출.csv");
    assert_eq!(up["size"], 8);
    let out = s.run_ok(
        &sid,
        "import pandas as pd\nprint(pd.read_csv('data/nested/매출.csv')['b'].sum())",
    );
    assert_eq!(out.trim(), "2");
    let files = s.get_json(&format!("/v1/sessions/{sid}/files"));
    assert!(files["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "data/nested/매출.csv"));
    let body = s
        .get(&format!(
            "/v1/sessions/{sid}/files/data/nested/%EB%A7%A4%EC%B6%9C.csv"
        ))
        .text()
        .unwrap();
    assert_eq!(body, "a,b\n1,2\n");
    // overwrite is atomic and complete
    s.put_file(&sid, "data/nested/매출.csv", b"a,b\n5,6\n".to_vec());
    assert_eq!(
        s.run_ok(
            &sid,
            "print(open('data/nested/매출.csv').read().split()[1])"
        )
        .trim(),
        "5,6"
    );
    let del = s
        .client
        .delete(s.url(&format!("/v1/sessions/{sid}/files/data/nested/매출.csv")))
        .send()
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(
        s.run_ok(
            &sid,
            "import os\nprint(os.path.exists('data/nested/매출.csv'))"
        )
        .trim(),
        "False"
    );
}

#[test]
fn sandboxed_code_can_modify_uploaded_files() {
    let s = Server::start();
    let sid = s.create_session();
    s.put_file(&sid, "data/in.txt", b"one".to_vec());
    s.run_ok(
        &sid,
        "open('data/in.txt','a').write(' two')\nimport os\nos.makedirs('data/new/deeper')",
    );
    assert_eq!(
        s.get(&format!("/v1/sessions/{sid}/files/data/in.txt"))
            .text()
            .unwrap(),
        "one two"
    );
}

#[test]
fn range_and_etag() {
    let s = Server::start();
    let sid = s.create_session();
    s.run_ok(&sid, "open('artifacts/digits.txt','w').write('0123456789')");
    let url = s.url(&format!("/v1/sessions/{sid}/artifacts/digits.txt"));
    let full = s.client.get(&url).send().unwrap();
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.headers()["content-type"], "text/plain; charset=utf-8");
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag.len(), 66);
    let part = s
        .client
        .get(&url)
        .header("Range", "bytes=2-5")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(part.text().unwrap(), "2345");
    let tail = s
        .client
        .get(&url)
        .header("Range", "bytes=-3")
        .send()
        .unwrap();
    assert_eq!(tail.text().unwrap(), "789");
    let bad = s
        .client
        .get(&url)
        .header("Range", "bytes=50-")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 416);
    assert_eq!(bad.headers()["content-range"], "bytes */10");
    let cached = s
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(cached.status(), 304);
    // If-Range with a stale tag returns the whole (changed) file
    s.run_ok(&sid, "open('artifacts/digits.txt','w').write('abcdefghij')");
    let r = s
        .client
        .get(&url)
        .header("Range", "bytes=0-1")
        .header("If-Range", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "abcdefghij");
    assert_eq!(
        s.client
            .get(&url)
            .header("If-None-Match", &etag)
            .send()
            .unwrap()
            .status(),
        200
    );
}
