#!/usr/bin/env bash
# `make build`: `sam build` of template.yaml, offline, from a fresh clone: an arm64 (aarch64)
# `bootstrap` for each function of template.yaml in .aws-sam/build/<LogicalId>/, which
# `sam deploy` then uploads; and the same binaries zipped as target/lambda-zips/<binary>.zip
# (bootstrap at the root, mode 0755), for deploying or inspecting them without SAM. Then
# smsctl, the command-line client, for this machine: target/release/smsctl.
#
# SAM's rust-cargolambda build method runs `cargo lambda build --release --arm64 --bin <name>`
# in the workspace (it builds in source, so the builds share target/ and compile the
# common dependencies once); it needs no --beta-features and no container. cargo-lambda and
# its zig (the cross linker) come from ./.venv; the aarch64-unknown-linux-gnu target from
# rust-toolchain.toml.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$root"

local_tools_on_path
export SAM_CLI_TELEMETRY=0 PYTHONDONTWRITEBYTECODE=1

target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
  echo "build: adding the Rust target $target" >&2
  rustup target add "$target"
fi

started=$(date +%s)
sam build --template-file template.yaml --build-dir .aws-sam/build
built=$(date +%s)

# Check every function's bootstrap and zip it. The function → binary map comes from the
# template's BuildProperties, so a fifth function is checked too.
python3 - "$root" <<'PY'
import shutil, stat, subprocess, sys, zipfile
from pathlib import Path

root = Path(sys.argv[1])
sys.path.insert(0, str(root / "infra/tests/template-tests"))
from template_rules import load  # noqa: E402  (cfn-lint's loader, with !Ref and friends)

template = load(root / "template.yaml")
functions = {
    name: res["Metadata"]["BuildProperties"]["Binary"]
    for name, res in template["Resources"].items()
    if res.get("Type") == "AWS::Serverless::Function"
}
zips = root / "target/lambda-zips"
zips.mkdir(parents=True, exist_ok=True)
failed = False
for name, binary in sorted(functions.items()):
    boot = root / ".aws-sam/build" / name / "bootstrap"
    if not boot.is_file():
        print(f"build: {boot} is missing", file=sys.stderr)
        failed = True
        continue
    head = boot.read_bytes()[:20]
    # ELF, 64-bit, little-endian, e_machine 183 (EM_AARCH64)
    is_arm64 = head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1 and int.from_bytes(head[18:20], "little") == 183
    described = subprocess.run(["file", "-b", str(boot)], capture_output=True, text=True).stdout.strip() \
        if shutil.which("file") else ""
    if not is_arm64 or (described and "aarch64" not in described):
        print(f"build: {boot} is not an arm64 executable: {described or head!r}", file=sys.stderr)
        failed = True
        continue
    out = zips / f"{binary}.zip"
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(info, boot.read_bytes())
    size = boot.stat().st_size
    print(f"build: {name:24} {binary:16} {size / 1e6:5.1f} MB  {described or 'ELF aarch64'}")
    print(f"       -> {out.relative_to(root)} ({out.stat().st_size / 1e6:.1f} MB)")
sys.exit(1 if failed else 0)
PY

echo "build: sam build took $((built - started)) s; template for sam deploy: .aws-sam/build/template.yaml" >&2

# smsctl, the command-line client (cli/), for this machine rather than Lambda's: a release
# build, left where cargo puts it. Cargo rebuilds it only when its sources change.
cargo build --release --quiet -p smsctl
echo "build: smsctl for this machine: target/release/smsctl ($(du -h target/release/smsctl | cut -f1))" >&2
