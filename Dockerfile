# Hearth in a container: builds `hearth` (release, Swift standard library linked statically)
# and runs `hearth serve` listening on 0.0.0.0:9001 with AWS Signature V4 auth. Hearth itself
# never needs Docker; this image is for people who deploy with it. Details: docs/docker.md.
#
#   docker build -t hearth .
#   docker run -d --name hearth \
#       --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined \
#       --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
#       -p 127.0.0.1:9001:9001 -v hearth-state:/var/lib/hearth hearth
#   docker exec hearth cat /var/lib/hearth/credentials > hearth-credentials   # for the aws CLI
#
# Each sandbox is a nested container, so the container needs (measured: docs/docker.md):
#   --cap-add SYS_ADMIN   clone into new pid/mount/ipc/uts/net/cgroup namespaces, mount the
#                         sandbox's root, /proc, /dev and /tmp, pivot_root.
#   --cap-add NET_ADMIN   bring up the loopback interface in each sandbox's network namespace.
#   --security-opt seccomp=unconfined  Docker's default profile refuses pivot_root even with
#                         CAP_SYS_ADMIN; every sandbox still gets Hearth's own seccomp filter.
#   --cgroupns=host and -v /sys/fs/cgroup:/sys/fs/cgroup:rw  Hearth creates each instance's
#                         cgroup under its own, found from /proc/self/cgroup; that path must
#                         resolve under /sys/fs/cgroup, which Docker mounts read-only and
#                         shows only the container's own subtree of. In the host namespace
#                         with the host's tree mounted, the paths agree and the instance
#                         cgroups land under the container's cgroup. (Never combine the bind
#                         with --cgroupns=private: "/" would then be the host's root cgroup.)
#   --security-opt apparmor=unconfined  on hosts with AppArmor (its docker-default profile
#                         forbids mount).
#   --privileged in place of the capability, seccomp and AppArmor flags (keep the two cgroup
#   flags) grants a superset, where the host's capability bounding set is complete; runc
#   refuses it where it is not (as on the machine the set above was measured on).
#   -p 127.0.0.1:9001:9001  the Lambda API; -v ...:/var/lib/hearth the state: functions, code,
#   logs, built runtime images and the credentials file.
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
# libseccomp-dev: Hearth's seccomp compiler; libsqlite3-dev: GRDB's system SQLite; zlib1g-dev:
# gzip'd image layers; gcc, zip: the C echo example.
RUN set -eu; pkgs="libseccomp-dev libsqlite3-dev zlib1g-dev gcc libc6-dev zip"; \
    if ! dpkg -s $pkgs >/dev/null 2>&1; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
        && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
# The manifest first, so a source change does not resolve the packages again; then only what
# the build reads (test targets' folders must exist for the manifest to load).
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources/
COPY Tests Tests/
COPY Examples Examples/
RUN swift build -c release --product hearth --static-swift-stdlib -j "$(nproc)" \
    && swift build -c release --product hearth-init -j "$(nproc)" \
    && install -D -m 0755 .build/release/hearth /out/bin/hearth \
    && install -D -m 0755 .build/release/hearth-init /out/bin/hearth-init
# The C echo example (libc only, so it runs on the `provided` image), for a first `hearth run`.
RUN mkdir -p /out/echo && cc -std=gnu11 -O2 -IExamples/lambda-c -o /out/echo/bootstrap \
        Examples/lambda-c/lambda_client.c Examples/echo-c/main.c \
    && cd /out/echo && zip -q ../echo.zip bootstrap

FROM ${RUN_IMAGE}
# libseccomp2, libsqlite3-0, libcurl4 (Foundation's URLSession, in hearth's API client),
# zlib1g: what hearth links dynamically besides libc and libstdc++.
# libc-bin (ldd, ldconfig), bash, dash: the `provided` runtime image is built on first use
# from this image's own C library by runtime-images/provided/build.
RUN set -eu; pkgs="libseccomp2 libsqlite3-0 libcurl4 zlib1g libc-bin bash dash"; \
    if ! dpkg -s $pkgs >/dev/null 2>&1; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /out/bin/hearth /usr/local/bin/hearth
# The sandbox's pid 1 (static), found next to hearth.
COPY --from=build /out/bin/hearth-init /usr/local/bin/hearth-init
COPY runtime-images /usr/local/share/hearth/runtime-images
COPY --from=build /out/echo.zip /usr/local/share/hearth/examples/echo.zip
# Fails the build here, not at run time, when a shared library is missing.
RUN hearth --help >/dev/null
VOLUME /var/lib/hearth
EXPOSE 9001
ENTRYPOINT ["hearth"]
# Signature V4 (the default --auth) is what makes listening beyond loopback allowed.
CMD ["serve", "--listen", "0.0.0.0:9001", "--auth", "sigv4", "--state-dir", "/var/lib/hearth"]
