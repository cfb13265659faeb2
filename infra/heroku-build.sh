# A Heroku build on this machine, for the deploy rehearsal: what the pinned
# emk/rust buildpack's bin/compile (commit cfa0f06, the one terraform/ uses)
# does with an app's source and config vars, minus installing Rust (the
# toolchain named by rust-toolchain is already here).
#
#   ./edm heroku-build APP_DIR ENV_DIR
#
# APP_DIR receives the committed tree (`git archive HEAD`, the tarball that
# docs/deploy.md has users build; uncommitted changes are left out, as they
# are from a deploy). ENV_DIR holds the app's config vars, one file each, as
# Heroku hands them to a buildpack. Then, as bin/compile does: export
# DATABASE_URL if the app has one, read VERSION from rust-toolchain, source
# RustConfig, run `cargo build $RUST_CARGO_BUILD_FLAGS` with CARGO_TARGET_DIR
# in the build cache, and copy the executables the cache's release folder
# holds into APP_DIR/target/release.
#
# Heroku keeps one build cache per app; here the apps share one
# (EDM_HEROKU_BUILD_CACHE, default ~/.cache/edm/heroku-build) so that five
# apps do not compile the dependencies five times. So that an app still gets
# only what its own build made, the executables at the top of the cache's
# release folder are removed first: cargo puts back those of the packages
# it builds. Point EDM_HEROKU_BUILD_CACHE at an empty folder for a cold
# build. Prints "build seconds: N" last.

heroku_build() {
  local app_dir=${1:?usage: ./edm heroku-build APP_DIR ENV_DIR} env_dir=${2:?usage: ./edm heroku-build APP_DIR ENV_DIR}
  local cache=${EDM_HEROKU_BUILD_CACHE:-$HOME/.cache/edm/heroku-build} started
  [ -d "$env_dir" ] || die "ENV_DIR $env_dir is not a folder of config vars"
  if [ -n "$(git -C "$EDM_ROOT" status --porcelain --untracked-files=no)" ]; then
    log "heroku-build: uncommitted changes are not in the build (it takes HEAD, as a deploy does)"
  fi
  rm -rf "$app_dir"
  mkdir -p "$app_dir" "$cache/target/release"
  git -C "$EDM_ROOT" archive --format=tar HEAD | tar -x -C "$app_dir"
  find "$cache/target/release" -maxdepth 1 -type f -executable -delete
  started=$(date +%s)
  # bin/compile's steps, in its order, in a bash of their own (it sources
  # RustConfig into its own shell, which may exit).
  BUILD_DIR=$app_dir CACHE_DIR=$cache ENV_DIR=$env_dir bash -c '
    BUILD_DIR=$BUILD_DIR; CACHE_DIR=$CACHE_DIR; ENV_DIR=$ENV_DIR
    export -n BUILD_DIR CACHE_DIR ENV_DIR
    if [ -e "$ENV_DIR/DATABASE_URL" ]; then
      export DATABASE_URL="$(cat $ENV_DIR/DATABASE_URL)"
    fi
    VERSION=stable
    RUST_SKIP_BUILD=0
    BUILD_PATH=""
    RUST_CARGO_BUILD_FLAGS="--release"
    if [ -f "$BUILD_DIR/rust-toolchain" ]; then
      VERSION="$(cat "$BUILD_DIR/rust-toolchain")"
    fi
    if [ -f "$BUILD_DIR/RustConfig" ]; then
      . "$BUILD_DIR/RustConfig"
    fi
    set -eu
    [ "$RUST_SKIP_BUILD" -ne 1 ] || { echo "RustConfig skips the build" >&2; exit 1; }
    echo "-----> Rust $VERSION; cargo build $RUST_CARGO_BUILD_FLAGS"
    export CARGO_TARGET_DIR="$CACHE_DIR/target"
    cd "$BUILD_DIR/$BUILD_PATH"
    rm -rf target/
    cargo build $RUST_CARGO_BUILD_FLAGS
    mkdir -p target/release
    find "$CARGO_TARGET_DIR/release" -maxdepth 1 -type f -executable -exec cp -a -t target/release {} \;
  ' || die "heroku-build: the build of $app_dir failed"
  echo "build seconds: $(($(date +%s) - started))"
}
