// A sandbox's /tmp as disk-backed ephemeral storage (ADR 0016): an ext4 image of exactly the
// asked size on the state directory's disk, attached to a loop device that frees itself when
// the file system goes (LO_FLAGS_AUTOCLEAR), mounted detached (fsopen/fsmount: no mount in any
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

/// Runs mkfs.ext4 on `image`: no journal, no reserved blocks, few inodes (so nearly all of the
/// size is usable), the root directory owned by uid:gid.
static int make_fs(const char *mkfs, const char *image, uid_t uid, gid_t gid) {
    char ext[128];
    snprintf(ext, sizeof ext, "root_owner=%u:%u,lazy_itable_init=1,nodiscard", (unsigned)uid, (unsigned)gid);
    char *const argv[] = {(char *)mkfs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0", "-i", "65536",
                          "-E", ext, (char *)image, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, mkfs, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -rc;
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -errno;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/// Attaches `backing` to a free loop device (autoclear); returns its number or -errno.
static int attach_loop(int backing, char *device, size_t size) {
    int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (control < 0) return -errno;
    int result = -EBUSY;
    for (int attempt = 0; attempt < 16; attempt++) {
        int n = ioctl(control, LOOP_CTL_GET_FREE);
        if (n < 0) { result = -errno; break; }
        snprintf(device, size, "/dev/loop%d", n);
        int loop = open(device, O_RDWR | O_CLOEXEC);
        if (loop < 0) { result = -errno; break; }
        struct loop_config config;
        memset(&config, 0, sizeof config);
        config.fd = (unsigned int)backing;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
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

int hearth_tmp_prepare(const char *image, uint64_t size_bytes, const char *mkfs, uid_t uid, gid_t gid) {
    int backing = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (backing < 0) return -errno;
    int rc = ftruncate(backing, (off_t)size_bytes) == 0 ? 0 : -errno;
    if (rc == 0) rc = make_fs(mkfs, image, uid, gid);
    // The loop device keeps the file; its name goes now, so nothing is left behind on disk.
    unlink(image);
    if (rc != 0) { close(backing); return rc; }
    char device[64];
    int loop = attach_loop(backing, device, sizeof device);
    close(backing);
    if (loop < 0) return loop;
    int fs = (int)syscall(SYS_fsopen, "ext4", HEARTH_FSOPEN_CLOEXEC);
    int mnt = -1;
    if (fs < 0) {
        rc = -errno;
    } else if (syscall(SYS_fsconfig, fs, HEARTH_FSCONFIG_SET_STRING, "source", device, 0) < 0
               // statfs reports the whole size asked for (metadata included), as a tmpfs of it would.
               || syscall(SYS_fsconfig, fs, HEARTH_FSCONFIG_SET_FLAG, "minixdf", NULL, 0) < 0
               || syscall(SYS_fsconfig, fs, HEARTH_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        rc = -errno;
    } else {
        mnt = (int)syscall(SYS_fsmount, fs, HEARTH_FSMOUNT_CLOEXEC, HEARTH_MOUNT_ATTR_NOSUID | HEARTH_MOUNT_ATTR_NODEV);
        if (mnt < 0) rc = -errno;
    }
    if (fs >= 0) close(fs);
    // The file system holds the device open; closing ours lets autoclear free it when the
    // file system goes. (If the mount failed, this close frees it at once.)
    close(loop);
    return mnt >= 0 ? mnt : rc;
}
