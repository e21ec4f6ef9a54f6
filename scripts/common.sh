# Sourced by the scripts here: the repository root as the working directory, and a Cargo target
# directory outside the clone so repeated runs on one machine do not rebuild the world.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/dynamic-executor/target}

# The Docker client that matches the engine: Debian's docker.io client when present (a newer
# client without the buildx plugin cannot use BuildKit), else whatever `docker` is on PATH.
docker_cli() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || echo docker; fi
}
DOCKER=${DOCKER:-$(docker_cli)}
export DOCKER
