/**
 * What runs inside the sandbox, as the namespace's fake root, with no network:
 * install the pre-fetched build-dependencies from /debs, then build as an unprivileged uid
 * at a fixed path (reproducible builds need the same path every time), then copy the
 * top-level results to /out. Fixed text: its arguments arrive as positional parameters.
 *
 * Layout it expects (bound read-only by the daemon):
 *   /in/<dirname>/       the exported source tree
 *   /in/*.orig*.tar.*    the upstream tarballs (and .asc signatures) a non-native format needs
 *   /debs/               the resolved .debs and their Packages index
 *   /out/                (writable) receives the results
 * When changing the layout, update src/steps/build-in-sandbox.ts (the binds and the arguments).
 */
export const BUILD_UID = 1000;
export const BUILD_PATH = '/build/reproducible-path';

/**
 * apt inside the sandbox reads only /debs (the resolved set and its Packages index), and no
 * maintainer script may start a service. Shared by the build and by the making of a cached
 * dependency layer, so both install the same way.
 */
const OFFLINE_APT = `# Services must never start from maintainer scripts in a build root.
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
# A cross build (CROSS_ARCH set by the daemon from the pocket's checked architectures)
# installs that architecture's libraries beside the host's tools.
if [ -n "\${CROSS_ARCH:-}" ]; then dpkg --add-architecture "$CROSS_ARCH"; fi
echo 'deb [trusted=yes] file:/debs ./' > /etc/apt/sources.list
apt-get -q -o Acquire::Languages=none update
`;

/**
 * Makes a dependency layer: installs exactly the packages named (NAME=VERSION arguments)
 * from /debs into the root, whose changes the sandbox then keeps as the layer. The build
 * over it reads /debs afresh, so what the layer's apt lists say does not matter.
 */
export const LAYER_SCRIPT = `set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
${OFFLINE_APT}apt-get -q -y --no-install-recommends install "$@"
apt-get clean
`;

export const SANDBOX_SCRIPT = `set -eu
DIRNAME=$1 EXTRA=$2 SUITE=$3
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
say() { echo "pocketbuild: $*"; }
# Read back by src/steps/build-in-sandbox.ts to split the build stage's time.
mark() { echo "pocketbuild-mark: $1 $(date +%s%3N)"; }
say "sandbox: $(uname -r), $(nproc) cpus, running as uid $(id -u)"
# On the way out, whatever the way: how full the scratch disk is and how many processes the
# build uid holds, so src/steps/limit-failure.ts can name a limit from measurements, not
# from the build's own words. Read only when the build failed.
report() {
  status=$?
  df -Pk / | awk 'NR == 2 { printf "pocketbuild-limits: disk_kb=%s disk_free_kb=%s", $2, $4 }'
  awk -v uid=${BUILD_UID} '$1 == "Uid:" && $2 == uid { n++ } END { printf " build_processes=%d\\n", n }' /proc/[0-9]*/status 2>/dev/null
  exit $status
}
trap report EXIT

${OFFLINE_APT}
# The commit's tree and the upstream tarballs go to a staging directory: the build itself
# happens in what the source package unpacks to, as on Debian's buildds, so that whatever
# git cannot hold (an empty upstream directory) is there, and nothing the package did not ship is.
mkdir -p /build/source ${BUILD_PATH}
cp -a /in/. /build/source/
useradd --uid ${BUILD_UID} --home-dir /build/home --create-home --no-user-group --gid 100 builder
chown -R ${BUILD_UID}:100 /build

mark install
# Over a cached dependency layer this installs nothing: it checks the layer has them all.
say "installing build-dependencies (offline, from the pre-fetched set)"
apt-get -q -y --no-install-recommends build-dep \${CROSS_ARCH:+-a "$CROSS_ARCH"} /build/source/"$DIRNAME"
if [ -n "$EXTRA" ]; then apt-get -q -y --no-install-recommends install $EXTRA; fi

as_builder() {
  setpriv --reuid=${BUILD_UID} --regid=100 --clear-groups --inh-caps=-all --bounding-set=-all -- \\
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/build/home TMPDIR=/tmp LC_ALL=C.UTF-8 TZ=UTC \\
    DEB_BUILD_OPTIONS="\${DEB_BUILD_OPTIONS:-}" \${DEB_BUILD_PROFILES:+"DEB_BUILD_PROFILES=$DEB_BUILD_PROFILES"} "$@"
}

mark source
say "making the source package and unpacking it in ${BUILD_PATH}"
(cd /build/source/"$DIRNAME" && as_builder dpkg-source -b .)
# Ours, made a moment ago in this sandbox: nothing to check a signature or checksum against.
as_builder dpkg-source --no-check -x /build/source/*.dsc ${BUILD_PATH}/"$DIRNAME"
# The upstream tarballs (and signatures) beside the unpacked tree, for the full build below.
find /in -maxdepth 1 -type f -exec cp -- {} ${BUILD_PATH}/ \\;
chown ${BUILD_UID}:100 ${BUILD_PATH}/*
rm -rf /build/source

# -sa: always carry the upstream tarball; the pool is shared by every suite, and the first
# upload of a version to it must bring it (reprepro accepts it again if it is identical).
# A cross build makes the architecture-specific packages only (-B): the native build made the
# source and the arch: all ones.
# The .changes names the pocket's suite: that is where it goes, whatever debian/changelog says.
if [ -n "\${CROSS_ARCH:-}" ]; then what="-B -a $CROSS_ARCH"; else what=-sa; fi
say "building as uid ${BUILD_UID} in ${BUILD_PATH}/$DIRNAME\${CROSS_ARCH:+, cross-built for $CROSS_ARCH}"
cd ${BUILD_PATH}/"$DIRNAME"
mark compile
set +e
as_builder dpkg-buildpackage -us -uc $what --changes-option=-DDistribution="$SUITE"
status=$?
set -e
if [ $status -ne 0 ]; then say "dpkg-buildpackage exited with status $status"; exit $status; fi

mark collect
say "collecting results"
# Moved, not copied: /out is on the same size-capped scratch disk as the build.
find ${BUILD_PATH} -maxdepth 1 -type f -exec mv -t /out/ -- {} +
`;
