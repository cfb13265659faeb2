//! The vendored browser libraries are exactly the packages locked in
//! `web/package-lock.json`: `web/check-vendor.mjs` runs `npm ci` (from the
//! npm registry, into the ignored `web/node_modules/`) and compares bytes.

use std::path::Path;
use std::process::Command;

#[test]
fn vendored_libraries_match_the_locked_npm_packages() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let output = Command::new("node")
        .arg("check-vendor.mjs")
        .current_dir(&web)
        .output()
        .expect("node must be installed to check the vendored files (it is on every EDM machine)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "vendor check failed:\n{stdout}\n{stderr}"
    );
    for file in ["socket.io.min.js", "chart.umd.min.js"] {
        assert!(
            stdout.contains(&format!("ok static/vendor/{file}")),
            "{file} not checked:\n{stdout}"
        );
    }
}
