//! docs/porting.md has a row for every public name of python-diameter:
//! runs `python3 tools/porting/porting.py --check-names`, which compares
//! the table with the names the installed package exports. Without
//! python-diameter the test is skipped, unless `CI` is set (`INTEROP_PYTHON`
//! names another interpreter).

use std::env;
use std::path::Path;
use std::process::Command;

fn python() -> String {
    env::var("INTEROP_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn python_diameter_available() -> bool {
    Command::new(python())
        .args(["-c", "import diameter.message, diameter.node"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn in_ci() -> bool {
    env::var_os("CI").is_some_and(|v| !v.is_empty())
}

#[test]
fn every_python_name_has_a_row() {
    if !python_diameter_available() {
        let what = "python-diameter 0.9 (python3 -m pip install python-diameter==0.9.0)";
        assert!(!in_ci(), "{what} is not available, and CI is set");
        eprintln!("skipping: {what} is not available");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(root.join("tools/porting/porting.py"))
        .arg("--check-names")
        .current_dir(root)
        .output()
        .expect("run tools/porting/porting.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "tools/porting/porting.py --check-names failed:\n{stdout}{stderr}"
    );
}
