# Hearth in a container: builds `hearth` (release, Swift standard library linked statically)
# and runs `hearth serve` listening on 0.0.0.0:9001 with AWS Signature V4 auth. Hearth itself
# never needs Docker; this image is for people who deploy with it. Details: docs/docker.md.
#
#   docker build -t hearth .
#   docker run -d --name hearth --privileged --cgroupns=private \
#       -p 127.0.0.1:9001:9001 -v hearth-state:/var/lib/hearth hearth
#   docker exec hearth cat /var/lib/hearth/credentials > hearth-credentials   # for the aws CLI
#
# Why each flag (every sandbox is a nested container: namespaces, mounts, cgroups, seccomp):
#   --privileged       Hearth clones into new pid/mount/net/ipc/uts/cgroup namespaces, mounts
#                      the sandbox root, /proc, /dev and /tmp, pivot_roots, and writes
#                      cgroup limits. That needs CAP_SYS_ADMIN (and NET_ADMIN for the
#                      sandbox's loopback), Docker's seccomp profile off (it refuses the
#                      namespace clone flags and mount calls Hearth's supervisor makes; each
#                      sandbox gets Hearth's own seccomp filter instead), no AppArmor
#                      profile on hosts that have one, and a writable cgroup filesystem:
#                      Docker mounts /sys/fs/cgroup read-only unless the container is
#                      privileged.
#   --cgroupns=private The container sees its own cgroup as "/" in /proc/self/cgroup and at
#                      the root of its /sys/fs/cgroup mounts, so Hearth creates its instance
#                      cgroups under the container's cgroup (and they go away with it).
#                      Docker's default on cgroup v1 hosts is the host namespace, where
#                      /proc/self/cgroup shows the host path while /sys/fs/cgroup/* shows
#                      only the container's subtree: Hearth would look for its cgroup at a
#                      path that does not exist there. With --cgroupns=host instead, bind
#                      the host tree too: -v /sys/fs/cgroup:/sys/fs/cgroup:rw.
#   -p 127.0.0.1:9001:9001  the Lambda API; publish on loopback unless you mean otherwise.
#   -v hearth-state:/var/lib/hearth  functions, code, logs, built runtime images, credentials.
# The smallest non-privileged set, and what was measured: docs/docker.md.
#
# The base images are the usual public ones. Without a registry, pass locally produced ones
# (scripts/docker-smoke does: a debootstrap bookworm root, and the same root plus a Swift
# toolchain and the build dependencies): --build-arg BUILD_IMAGE=... --build-arg RUN_IMAGE=...
# Packages already present in a base image are not installed again, so such a build needs
# no network (apt or Swift packages: the build image must resolve them, e.g. with a git
# url.insteadOf pointing at local mirrors).
ARG BUILD_IMAGE=swift:6.3-bookworm
ARG RUN_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
# libseccomp-dev: Hearth's seccomp compiler; libsqlite3-dev: GRDB's system SQLite; gcc, zip:
# the C example functions (scripts/build-fixtures).
RUN set -eu; pkgs="libseccomp-dev libsqlite3-dev gcc libc6-dev zip"; \
    if ! dpkg -s $pkgs >/dev/null 2>&1; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
        && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
# Manifests first, so a source change does not resolve the packages again.
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN swift build -c release --product hearth --static-swift-stdlib -j "$(nproc)" \
    && scripts/build-fixtures /out/fixtures \
    && install -D -m 0755 .build/release/hearth /out/bin/hearth

FROM ${RUN_IMAGE}
# libseccomp2 and libsqlite3-0: what hearth links dynamically besides libc and libstdc++.
# libc-bin (ldd, ldconfig), bash, dash: the `provided` runtime image is built on first use
# from this image's own C library by runtime-images/provided/build.
RUN set -eu; pkgs="libseccomp2 libsqlite3-0 libc-bin bash dash"; \
    if ! dpkg -s $pkgs >/dev/null 2>&1; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /out/bin/hearth /usr/local/bin/hearth
COPY --from=build /src/runtime-images /usr/local/share/hearth/runtime-images
COPY --from=build /out/fixtures/echo.zip /usr/local/share/hearth/examples/echo.zip
# Fails the build here, not at run time, when a shared library is missing.
RUN hearth --help >/dev/null
VOLUME /var/lib/hearth
EXPOSE 9001
ENTRYPOINT ["hearth"]
# Signature V4 (the default --auth) is what makes listening beyond loopback allowed.
CMD ["serve", "--listen", "0.0.0.0:9001", "--auth", "sigv4", "--state-dir", "/var/lib/hearth"]
