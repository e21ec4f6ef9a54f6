//! A real S3-compatible server on loopback for the object-store tests: moto's server mode
//! (`moto[server]` from PyPI, installed into the test tools' venv by the test command).

use super::{free_port, tools_bin};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "deep-insight-test";

pub struct S3 {
    child: Option<Child>,
    pub port: u16,
    pub endpoint: String,
}

/// The object as a raw S3 response (moto accepts unsigned requests).
pub struct Object {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl S3 {
    /// Starts moto on a free loopback port with one bucket, [`BUCKET`].
    pub fn start() -> S3 {
        let mut s = S3 {
            child: None,
            port: free_port(),
            endpoint: String::new(),
        };
        s.endpoint = format!("http://127.0.0.1:{}", s.port);
        s.restart();
        s
    }

    /// A server this test did not start (the compose stack's), on a loopback port, with
    /// [`BUCKET`] already made.
    pub fn attach(port: u16) -> S3 {
        S3 {
            child: None,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Starts it again on the same port (after [`S3::stop`]); moto keeps nothing across.
    pub fn restart(&mut self) {
        let bin = tools_bin("moto_server");
        assert!(
            bin.exists(),
            "{} missing: run scripts/test.sh (it installs the test tools)",
            bin.display()
        );
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.boto("c.create_bucket(Bucket=B)", b"");
    }

    /// Stops the server (the process this test started, by pid).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What the executor needs to use this server: env for `Server::start_with`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("S3_BUCKET_NAME", BUCKET.into()),
            ("AWS_ENDPOINT_URL_S3", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret".into()),
        ]
    }

    /// Runs `script` with boto3 (from the tools venv) against this server, `input` on stdin.
    fn boto(&self, script: &str, input: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let prelude = "import sys, json, boto3\nc = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing-secret')\nB = sys.argv[2]\n";
        let mut child = Command::new(tools_bin("python3"))
            .args(["-c", &format!("{prelude}{script}"), &self.endpoint, BUCKET])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn put(&self, key: &str, body: Vec<u8>) {
        self.put_many(&[(key.to_string(), body)]);
    }

    /// Puts many objects in one go (signed, as the Deep Insight client uploads its inputs).
    pub fn put_many(&self, objects: &[(String, Vec<u8>)]) {
        let items: Vec<serde_json::Value> = objects
            .iter()
            .map(|(k, b)| serde_json::json!([k, String::from_utf8_lossy(b)]))
            .collect();
        self.boto(
            "for k, b in json.load(sys.stdin): c.put_object(Bucket=B, Key=k, Body=b.encode())",
            serde_json::to_string(&items).unwrap().as_bytes(),
        );
    }

    pub fn get(&self, key: &str) -> Object {
        let out = self.boto(
            "k = sys.stdin.read()\ntry:\n    o = c.get_object(Bucket=B, Key=k); print(json.dumps([200, o['ContentType'], o['Body'].read().hex()]))\nexcept c.exceptions.NoSuchKey:\n    print(json.dumps([404, '', '']))",
            key.as_bytes(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        Object {
            status: v[0].as_u64().unwrap() as u16,
            content_type: v[1].as_str().unwrap().to_string(),
            body: hex::decode(v[2].as_str().unwrap()).unwrap(),
        }
    }

    /// Every key under `prefix` (all pages).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.boto(
            "p = sys.stdin.read()\nks = [o['Key'] for pg in c.get_paginator('list_objects_v2').paginate(Bucket=B, Prefix=p) for o in pg.get('Contents', [])]\nprint(json.dumps(sorted(ks)))",
            prefix.as_bytes(),
        );
        serde_json::from_slice(&out).unwrap()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.stop();
    }
}
