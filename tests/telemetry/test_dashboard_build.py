"""The committed static build (what users run without Node.js) matches the Svelte source."""
import hashlib
import pathlib

WEB = pathlib.Path(__file__).resolve().parents[2] / "pyengine" / "telemetry" / "dashboard" / "web"
STATIC = WEB.parent / "static"
INPUTS = ["index.html", "package.json", "package-lock.json", "vite.config.js", "src"]


def source_hash() -> str:
    """Same rule as the source-hash plugin in web/vite.config.js."""
    files = []
    for name in INPUTS:
        p = WEB / name
        files.extend(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else files.append(p)
    digest = hashlib.sha256()
    for rel in sorted(f.relative_to(WEB).as_posix() for f in files):
        digest.update(rel.encode() + b"\0")
        digest.update((WEB / rel).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def test_static_build_is_current():
    built = (STATIC / "source-hash.txt").read_text().strip()
    assert built == source_hash(), (
        "pyengine/telemetry/dashboard/static is older than web/: run "
        "`cd pyengine/telemetry/dashboard/web && npm ci && npm run build` and commit static/")


def test_static_build_references_only_shipped_assets():
    html = (STATIC / "index.html").read_text()
    assets = sorted(p.name for p in (STATIC / "assets").iterdir())
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for name in assets:
        assert f"./assets/{name}" in html
