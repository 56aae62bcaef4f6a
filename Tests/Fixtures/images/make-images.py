#!/usr/bin/env python3
"""Builds the container images the image-import tests run, without Docker:

  docker-save.tar   the layout `docker save` writes (manifest.json, <id>.json, <layer>/layer.tar)
  oci/              an OCI image layout folder (index.json, blobs/sha256/...; gzip layers)
  oci.tar           the same layout as one tar (what `docker save` writes since Docker 25,
                    `skopeo copy oci-archive:` and buildah produce)

Two layers, so that layering is exercised: the base has the probe, some files and a folder;
the top layer whites out one file (.wh.NAME), makes one folder opaque (.wh..wh..opq), replaces
a file, and adds a symlink and a hard link. The config sets Entrypoint (a bare name, found on
the image's PATH), Cmd, Env and WorkingDir.

Usage: make-images.py PROBE_BINARY OUTDIR   (the probe must be statically linked)
"""
import gzip, hashlib, io, json, os, shutil, sys, tarfile

probe_path, out = sys.argv[1], sys.argv[2]
probe = open(probe_path, "rb").read()
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def add_file(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name, mode=0o755):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    tar.addfile(info)


def add_link(tar, name, target, kind):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, target, 0
    tar.addfile(info)


def layer(build):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buf.getvalue()


def base(tar):
    for d in ["usr", "usr/local", "usr/local/bin", "etc", "data", "data/old", "var", "var/task", "srv"]:
        add_dir(tar, d)
    add_file(tar, "usr/local/bin/probe-fn", probe, 0o755)
    add_file(tar, "etc/base.txt", b"from the base layer\n")
    add_file(tar, "etc/removed.txt", b"whited out by the top layer\n")
    add_file(tar, "etc/replaced.txt", b"old\n")
    add_file(tar, "data/old/gone.txt", b"hidden by the opaque whiteout\n")
    # A setuid file: the import drops the bit.
    add_file(tar, "usr/local/bin/suid", b"#!/bin/sh\n", 0o4755)
    # A long path (PAX header).
    add_file(tar, "srv/" + "d" * 120 + "/long.txt", b"long path\n")


def top(tar):
    add_file(tar, "etc/.wh.removed.txt", b"")
    add_file(tar, "data/old/.wh..wh..opq", b"")
    add_file(tar, "data/old/new.txt", b"added after the opaque whiteout\n")
    add_file(tar, "etc/replaced.txt", b"new\n")
    add_link(tar, "etc/link.txt", "/etc/base.txt", tarfile.SYMTYPE)
    add_link(tar, "etc/hard.txt", "etc/base.txt", tarfile.LNKTYPE)
    add_file(tar, "var/task/marker.txt", b"task root from the image\n")


layers = [layer(base), layer(top)]
config = json.dumps({
    "architecture": arch, "os": "linux",
    "config": {
        "Entrypoint": ["probe-fn"], "Cmd": ["app.handler"],
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "IMAGE_VAR=from-the-image"],
        "WorkingDir": "/srv",
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]},
}, sort_keys=True).encode()
config_hex = hashlib.sha256(config).hexdigest()

os.makedirs(out, exist_ok=True)

# docker save (classic layout).
with tarfile.open(os.path.join(out, "docker-save.tar"), "w", format=tarfile.PAX_FORMAT) as tar:
    names = []
    for i, data in enumerate(layers):
        d = hashlib.sha256(data).hexdigest()
        add_dir(tar, d)
        add_file(tar, f"{d}/layer.tar", data)
        names.append(f"{d}/layer.tar")
    add_file(tar, config_hex + ".json", config)
    add_file(tar, "manifest.json", json.dumps([{"Config": config_hex + ".json", "RepoTags": ["hearth-test:latest"], "Layers": names}]).encode())

# OCI layout folder with gzip layers, reached through a multi-platform index.
oci = os.path.join(out, "oci")
shutil.rmtree(oci, ignore_errors=True)
os.makedirs(os.path.join(oci, "blobs", "sha256"))


def blob(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(oci, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + h, "size": len(data)}


gz = [gzip.compress(l, mtime=0) for l in layers]
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(blob(config), mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(blob(g), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for g in gz],
}).encode()
other = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64}, "layers": []}).encode()
index = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        dict(blob(other), mediaType="application/vnd.oci.image.manifest.v1+json", platform={"os": "linux", "architecture": "s390x"}),
        dict(blob(manifest), mediaType="application/vnd.oci.image.manifest.v1+json", platform={"os": "linux", "architecture": arch}),
    ],
}).encode()
inner_index = blob(index)
with open(os.path.join(oci, "index.json"), "wb") as f:
    f.write(json.dumps({"schemaVersion": 2, "manifests": [dict(inner_index, mediaType="application/vnd.oci.image.index.v1+json")]}).encode())
with open(os.path.join(oci, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion": "1.0.0"}')

# The OCI layout as one tar.
with tarfile.open(os.path.join(out, "oci.tar"), "w") as tar:
    for name in sorted(os.listdir(oci)):
        tar.add(os.path.join(oci, name), arcname=name)

# Hostile images: a layer entry escaping the root, and a symlink then a write through it.
def escape(tar):
    add_file(tar, "../../escaped.txt", b"x")

def through_link(tar):
    add_link(tar, "etc", "/tmp/hearth-image-escape", tarfile.SYMTYPE)
    add_file(tar, "etc/passwd", b"written through a symlink\n")

for name, build in [("escape.tar", escape), ("through-link.tar", through_link)]:
    data = layer(build)
    cfg = json.dumps({"architecture": arch, "os": "linux", "config": {"Entrypoint": ["/usr/local/bin/probe-fn"]},
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(data).hexdigest()]}}).encode()
    h = hashlib.sha256(cfg).hexdigest()
    with tarfile.open(os.path.join(out, name), "w") as tar:
        add_file(tar, "l/layer.tar", data)
        add_file(tar, h + ".json", cfg)
        add_file(tar, "manifest.json", json.dumps([{"Config": h + ".json", "Layers": ["l/layer.tar"]}]).encode())
print(f"images in {out}: docker-save.tar oci/ oci.tar escape.tar through-link.tar", file=sys.stderr)
