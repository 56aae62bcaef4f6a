# Hearth in a container. Hearth itself never needs Docker; this image is for people who
# deploy with it. Sandboxes inside the container need what a nested container runtime needs:
#
#   docker run --rm -it --privileged --cgroupns=host \
#       -v /sys/fs/cgroup:/sys/fs/cgroup:rw hearth run /functions/echo.zip --event '{}'
#
# --privileged: Hearth creates namespaces, mounts and cgroups for each sandbox (and applies its
# own seccomp filter to them, so Docker's profile must not block clone flags, mount or
# pivot_root in the supervisor). --cgroupns=host and the cgroup mount let it create instance
# cgroups under its own.
#
# The base images are the usual public ones; on a machine without a registry pass locally
# produced ones: --build-arg BUILD_IMAGE=... --build-arg RUN_IMAGE=...
ARG BUILD_IMAGE=swift:6.1-bookworm
ARG RUN_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libseccomp-dev gcc libc6-dev zip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product hearth --static-swift-stdlib && scripts/build-fixtures /out/fixtures \
    && install -D .build/release/hearth /out/bin/hearth

FROM ${RUN_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libseccomp2 libc-bin dash && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/hearth /usr/local/bin/hearth
COPY --from=build /src/runtime-images /usr/local/share/hearth/runtime-images
COPY --from=build /out/fixtures /usr/local/share/hearth/examples
VOLUME /var/lib/hearth
ENTRYPOINT ["hearth"]
CMD ["run", "/usr/local/share/hearth/examples/echo.zip", "--event", "{\"hello\":\"container\"}"]
