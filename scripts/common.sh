# Sourced by the scripts here: the repository root as the working directory, and a Cargo target
# directory outside the clone so repeated runs on one machine do not rebuild the world.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/dynamic-executor/target}
