//! An execution's `artifacts` list comes from inotify, not from walking the tree: it must say
//! exactly what a before/after comparison would, in the cases that are easy to get wrong.

mod common;

use common::{strs, Server};

#[test]
fn the_artifacts_an_execution_wrote_and_only_those() {
    let s = Server::start();
    let sid = s.create_session();
    let arts = |code: &str| -> Vec<String> {
        let v = s.exec(&sid, code);
        assert_eq!(v["status"], "ok", "{v}");
        strs(&v["artifacts"])
            .into_iter()
            .map(String::from)
            .collect()
    };
    // new files, a new nested directory (its files may predate its watch), an empty result
    assert_eq!(
        arts("import os\nopen('artifacts/a.txt','w').write('a')\nos.makedirs('artifacts/x/y/z')\nopen('artifacts/x/y/z/deep.csv','w').write('d')"),
        vec!["artifacts/a.txt", "artifacts/x/y/z/deep.csv"]
    );
    assert_eq!(arts("print(1)"), Vec::<String>::new());
    // a file changed in place, one appended to, one touched; one created and deleted again
    assert_eq!(
        arts("import os\nopen('artifacts/a.txt','w').write('b')\nopen('artifacts/x/y/z/deep.csv','a').write('e')\nopen('artifacts/gone.txt','w').write('g')\nos.remove('artifacts/gone.txt')"),
        vec!["artifacts/a.txt", "artifacts/x/y/z/deep.csv"]
    );
    // a rename into artifacts, and a directory moved in whole
    assert_eq!(
        arts("import os\nopen('tmp.png','w').write('p')\nos.rename('tmp.png','artifacts/chart.png')\nos.makedirs('outside/sub')\nopen('outside/sub/r.json','w').write('{}')\nos.rename('outside','artifacts/moved')"),
        vec!["artifacts/chart.png", "artifacts/moved/sub/r.json"]
    );
    // an upload between executions is not the next execution's
    assert_eq!(
        s.put_file(&sid, "artifacts/uploaded.txt", b"u".to_vec())
            .status(),
        201
    );
    assert_eq!(arts("print(2)"), Vec::<String>::new());
    // a link is not an artifact (never followed)
    assert_eq!(
        arts("import os\nos.symlink('/etc/passwd', 'artifacts/link')"),
        Vec::<String>::new()
    );
    // artifacts/ itself replaced during the run: still right (the fallback), and after it
    assert_eq!(
        arts("import shutil, os\nshutil.rmtree('artifacts')\nos.makedirs('artifacts')\nopen('artifacts/fresh.txt','w').write('f')"),
        vec!["artifacts/fresh.txt"]
    );
    assert_eq!(
        arts("open('artifacts/next.txt','w').write('n')"),
        vec!["artifacts/next.txt"]
    );
}
