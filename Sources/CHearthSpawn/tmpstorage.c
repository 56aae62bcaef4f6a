// A sandbox's /tmp as disk-backed ephemeral storage (ADR 0016): an ext4 image of exactly the
// asked size on the state directory's disk (a copy of a template made once per size, ADR 0035),
// attached to a loop device that frees itself when the file system goes (LO_FLAGS_AUTOCLEAR), mounted detached (fsopen/fsmount: no mount in any
// namespace yet). The sandbox child moves the mount to its /tmp. Not charged to the function's
// memory as tmpfs pages are: a disk file system's page cache is reclaimable.
#define _GNU_SOURCE
#include "hearth_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#define HEARTH_FSOPEN_CLOEXEC 0x00000001
#define HEARTH_FSCONFIG_SET_FLAG 0
#define HEARTH_FSCONFIG_SET_STRING 1
#define HEARTH_FSCONFIG_CMD_CREATE 6
#define HEARTH_FSMOUNT_CLOEXEC 0x00000001
#define HEARTH_MOUNT_ATTR_NOSUID 0x00000002
#define HEARTH_MOUNT_ATTR_NODEV 0x00000004

extern char **environ;

/// Runs `argv` (argv[0] is the path) with stdio on /dev/null and waits: 0, or -errno (-EIO if it failed).
static int run_quietly(char *const argv[]) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -rc;
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -errno;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/// Runs mkfs.ext4 on `image`: no journal, no reserved blocks, few inodes (so nearly all of the
/// size is usable), the root directory owned by root (each copy is chowned when mounted).
static int make_fs(const char *mkfs, const char *image) {
    char *const argv[] = {(char *)mkfs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0", "-i", "65536",
                          "-E", "root_owner=0:0,lazy_itable_init=1,nodiscard", (char *)image, NULL};
    return run_quietly(argv);
}

/// Mounts the ext4 on `device` detached, with the fsconfig flag `flag` and the mount attributes
/// `attrs`; returns the mount's descriptor (close-on-exec) or -errno.
static int mount_detached_ext4(const char *device, const char *flag, unsigned int attrs) {
    int fs = (int)syscall(SYS_fsopen, "ext4", HEARTH_FSOPEN_CLOEXEC);
    if (fs < 0) return -errno;
    int mnt = -1;
    if (syscall(SYS_fsconfig, fs, HEARTH_FSCONFIG_SET_STRING, "source", device, 0) < 0
        || syscall(SYS_fsconfig, fs, HEARTH_FSCONFIG_SET_FLAG, flag, NULL, 0) < 0
        || syscall(SYS_fsconfig, fs, HEARTH_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        mnt = -errno;
    } else {
        mnt = (int)syscall(SYS_fsmount, fs, HEARTH_FSMOUNT_CLOEXEC, attrs);
        if (mnt < 0) mnt = -errno;
    }
    close(fs);
    return mnt;
}

/// Attaches `backing` to a free loop device (autoclear, read-only if asked); returns an open
/// descriptor of it or -errno, its path in `device`.
static int attach_loop(int backing, char *device, size_t size, int readonly) {
    int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (control < 0) return -errno;
    int result = -EBUSY;
    for (int attempt = 0; attempt < 16; attempt++) {
        int n = ioctl(control, LOOP_CTL_GET_FREE);
        if (n < 0) { result = -errno; break; }
        snprintf(device, size, "/dev/loop%d", n);
        int loop = open(device, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (loop < 0) { result = -errno; break; }
        struct loop_config config;
        memset(&config, 0, sizeof config);
        config.fd = (unsigned int)backing;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (readonly ? LO_FLAGS_READ_ONLY : 0);
        if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) {
            close(control);
            return loop;
        }
        int err = errno;
        close(loop);
        if (err != EBUSY) { result = -err; break; }  // another process took it: try the next free one
    }
    close(control);
    return result;
}

/// Attaches the image `backing` to a loop device and mounts its ext4 detached (nosuid, nodev),
/// the root owned by uid:gid; closes `backing`. Returns the mount's descriptor or -errno.
static int mount_tmp(int backing, uid_t uid, gid_t gid) {
    char device[64];
    int loop = attach_loop(backing, device, sizeof device, 0);
    close(backing);
    if (loop < 0) return loop;
    // minixdf: statfs reports the whole size asked for (metadata included), as a tmpfs of it would.
    int mnt = mount_detached_ext4(device, "minixdf", HEARTH_MOUNT_ATTR_NOSUID | HEARTH_MOUNT_ATTR_NODEV);
    // The file system holds the device open; closing ours lets autoclear free it when the
    // file system goes. (If the mount failed, this close frees it at once.)
    close(loop);
    if (mnt >= 0) {
        int rc = hearth_tmp_give(mnt, uid, gid);
        if (rc != 0) { close(mnt); return rc; }
    }
    return mnt;
}

int hearth_tmp_give(int mount_fd, uid_t uid, gid_t gid) {
    return fchownat(mount_fd, "", uid, gid, AT_EMPTY_PATH) == 0 ? 0 : -errno;
}

int hearth_tmp_template(const char *image, uint64_t size_bytes, const char *mkfs) {
    int backing = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (backing < 0) return -errno;
    int rc = ftruncate(backing, (off_t)size_bytes) == 0 ? 0 : -errno;
    close(backing);
    if (rc == 0) rc = make_fs(mkfs, image);
    int fd = rc == 0 ? open(image, O_RDONLY | O_CLOEXEC) : -1;
    if (rc == 0 && fd < 0) rc = -errno;
    unlink(image);
    return rc == 0 ? fd : rc;
}

#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

/// Copies the written extents of `from` (its holes stay holes) into `to`, which is as large.
static int copy_extents(int from, int to, off_t size) {
    off_t data = 0;
    while (data < size) {
        data = lseek(from, data, SEEK_DATA);
        if (data < 0) return errno == ENXIO ? 0 : -errno;  // ENXIO: no data past here
        off_t hole = lseek(from, data, SEEK_HOLE);
        if (hole < 0) return -errno;
        off_t in = data, out = data;
        while (in < hole) {
            ssize_t n = copy_file_range(from, &in, to, &out, (size_t)(hole - in), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
                char buffer[65536];
                ssize_t r = pread(from, buffer, (size_t)(hole - in) < sizeof buffer ? (size_t)(hole - in) : sizeof buffer, in);
                if (r <= 0) return r < 0 ? -errno : -EIO;
                if (pwrite(to, buffer, (size_t)r, out) != r) return -EIO;
                in += r;
                out += r;
            } else if (n <= 0) {
                return n < 0 ? -errno : -EIO;
            }
        }
        data = hole;
    }
    return 0;
}

int hearth_tmp_from_template(int template_fd, const char *image, uid_t uid, gid_t gid) {
    struct stat st;
    if (fstat(template_fd, &st) != 0) return -errno;
    int backing = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (backing < 0) return -errno;
    // The loop device keeps the file; its name goes now, so nothing is left behind on disk.
    unlink(image);
    int rc = 0;
    // A reflink where the state directory's file system has them (btrfs, xfs), else a copy of
    // the template's few written blocks (hundreds of KiB) into a sparse file of its size.
    if (ioctl(backing, FICLONE, template_fd) != 0) {
        rc = ftruncate(backing, st.st_size) == 0 ? 0 : -errno;
        if (rc == 0) rc = copy_extents(template_fd, backing, st.st_size);
    }
    if (rc != 0) { close(backing); return rc; }
    return mount_tmp(backing, uid, gid);
}

// --- read-only folders as file systems of their own (ADR 0032) ---------------------------
// A bind mount's root field in /proc/self/mountinfo is its path inside the source file system,
// wherever it is bound: the code folder, the runtime image and the layers are made into ext4
// images (once per version), so a sandbox sees a file system whose root is "/".

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#define HEARTH_OPEN_TREE_CLONE 1
#define HEARTH_OPEN_TREE_CLOEXEC O_CLOEXEC
#define HEARTH_MOUNT_ATTR_RDONLY 0x00000001

int hearth_fsimage_make(const char *image, const char *source, uint64_t size_bytes, uint64_t inodes, const char *mkfs) {
    int backing = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (backing < 0) return -errno;
    int rc = ftruncate(backing, (off_t)size_bytes) == 0 ? 0 : -errno;
    close(backing);
    if (rc != 0) { unlink(image); return rc; }
    char count[32];
    snprintf(count, sizeof count, "%llu", (unsigned long long)inodes);
    char *const argv[] = {(char *)mkfs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0", "-N", count,
                          "-E", "lazy_itable_init=1,nodiscard", "-d", (char *)source, (char *)image, NULL};
    rc = run_quietly(argv);
    if (rc != 0) unlink(image);
    return rc;
}

int hearth_fsimage_mount(const char *image, int unlink_image) {
    int backing = open(image, O_RDONLY | O_CLOEXEC);
    if (backing < 0) return -errno;
    if (unlink_image) unlink(image);
    char device[64];
    int loop = attach_loop(backing, device, sizeof device, 1);
    close(backing);
    if (loop < 0) return loop;
    int mnt = mount_detached_ext4(device, "ro", HEARTH_MOUNT_ATTR_RDONLY | HEARTH_MOUNT_ATTR_NOSUID | HEARTH_MOUNT_ATTR_NODEV);
    // As for /tmp: the file system holds the device; autoclear frees it with the last mount.
    close(loop);
    return mnt;
}

int hearth_fsimage_clone(int mount_fd, const char *path) {
    int fd = (int)syscall(SYS_open_tree, mount_fd, path, HEARTH_OPEN_TREE_CLONE | HEARTH_OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    return fd >= 0 ? fd : -errno;
}
