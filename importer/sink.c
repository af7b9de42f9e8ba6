/* The sink: where the raw disk goes.  A file is written as DEST.tmp-XXXXXX
 * (fresh, so every range not written is a hole), fsynced and renamed over
 * DEST only by commit: any failure leaves no destination.  A block device
 * is written in place and the ranges that read as zero are zeroed
 * efficiently (BLKZEROOUT, else fallocate, else writes).  Either way data
 * is checked in 4 KiB blocks and all-zero blocks are never written, as
 * qemu-img convert does, so the file stays sparse.  Aligned data is
 * written with O_DIRECT (a second descriptor): no copy into the page
 * cache, no dirty-page throttling, and little left for the final fsync.
 * Each 4 KiB block is written through one descriptor only (a run that is
 * not aligned goes through the page cache whole), so the two never mix
 * on a page.  Buffered writes start writeback every 64 MiB. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sys/syscall.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"

#define SINK_BLOCK 4096u
#define SINK_WRITEBACK (64u << 20)

struct ferry_sink {
    char *dest;
    char *tmp;                  /* files: the temporary name until commit */
    int fd;
    int dfd;                    /* the same file with O_DIRECT, -1 when unavailable */
    bool block;
    bool committed;
    uint64_t size;
    uint64_t data_bytes;        /* atomic */
    uint64_t unflushed;         /* atomic: bytes written since the last writeback */
    uint64_t cursor;            /* streams on devices: zeroed or written up to here */
    bool writeback;             /* start writeback early (sync_file_range) */
};

/* The temporary file of the sink in progress, for the signal handler: an
 * import killed by SIGTERM (a deleted DataVolume) leaves no file behind. */
static char *volatile signal_tmp;
/* The same for a directory being extracted (--content-type archive): its
 * parent directory and its name. */
static volatile int signal_dir_fd = -1;
static char signal_dir_name[256];

struct dirent64_raw {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* Remove NAME in DIRFD and all below, with async-signal-safe calls only. */
static void
signal_rm_tree(int dirfd, const char *name, int depth)
{
    char buf[2048];
    int fd;

    if (unlinkat(dirfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM) || depth > 48)
        return;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    for (bool removed = true; removed;) {
        removed = false;
        lseek(fd, 0, SEEK_SET);
        for (;;) {
            long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
            if (n <= 0)
                break;
            for (long off = 0; off < n;) {
                struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
                off += d->reclen;
                if (strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0)
                    continue;
                signal_rm_tree(fd, d->name, depth + 1);
                removed = true;
            }
        }
    }
    close(fd);
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

static void
on_signal(int sig)
{
    char *tmp = signal_tmp;

    if (tmp)
        unlink(tmp);
    if (signal_dir_fd >= 0)
        signal_rm_tree(signal_dir_fd, signal_dir_name, 0);
    signal(sig, SIG_DFL);
    raise(sig);
}

void
ferry_sink_signal_dir(int parent_fd, const char *name)
{
    if (parent_fd < 0 || strlen(name) >= sizeof(signal_dir_name)) {
        signal_dir_fd = -1;
        return;
    }
    signal_dir_fd = -1;
    strcpy(signal_dir_name, name);
    signal_dir_fd = parent_fd;
}

void
ferry_sink_install_signal_handlers(void)
{
    struct sigaction sa = { .sa_handler = on_signal };
    const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
ferry_sink_error_too_small(uint64_t virtual_size, uint64_t volume_size)
{
    FERRY_AUTOFREE char *v = ferry_size_human(virtual_size);
    FERRY_AUTOFREE char *s = ferry_size_human(volume_size);

    if (strcmp(v, s) == 0) {
        free(v);
        free(s);
        v = ferry_printf("%llu bytes", (unsigned long long)virtual_size);
        s = ferry_printf("%llu bytes", (unsigned long long)volume_size);
    }
    return ferry_error(FERRY_ERR_INVALID, "virtual size %s is larger than the %s volume", v, s);
}

bool
ferry_sink_dest_is_block(const char *dest)
{
    struct stat st;
    return stat(dest, &st) == 0 && S_ISBLK(st.st_mode);
}

char *
ferry_sink_scratch_dir(const char *dest)
{
    struct stat st;

    if (stat(dest, &st) == 0 && S_ISBLK(st.st_mode)) {
        const char *t = getenv("TMPDIR");
        return ferry_strdup(t && *t ? t : "/var/tmp");
    }
    FERRY_AUTOFREE char *copy = ferry_strdup(dest);
    return ferry_strdup(dirname(copy));
}

int
ferry_sink_open(const char *dest, uint64_t size, struct ferry_sink **ret)
{
    struct stat st;
    struct ferry_sink *sink;

    if (stat(dest, &st) == 0 && S_ISBLK(st.st_mode)) {
        uint64_t devsize = 0;
        int fd = open(dest, O_RDWR | O_CLOEXEC | O_EXCL);
        if (fd < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "block device '%s'", dest);
        if (ioctl(fd, BLKGETSIZE64, &devsize) < 0) {
            int e = errno;
            close(fd);
            return ferry_error_errno(FERRY_ERR_IO, e, "block device '%s': size", dest);
        }
        if (size > devsize) {
            close(fd);
            FERRY_AUTOFREE char *a = ferry_size_human(size);
            FERRY_AUTOFREE char *b = ferry_size_human(devsize);
            return ferry_error(FERRY_ERR_INVALID,
                               "--size %s is larger than the block device '%s' (%s)", a, dest, b);
        }
        sink = ferry_calloc(1, sizeof(*sink));
        sink->fd = fd;
        sink->block = true;
        sink->size = devsize;
    } else {
        if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
            return ferry_error(FERRY_ERR_INVALID, "destination '%s' is a directory", dest);
        FERRY_AUTOFREE char *tmp = ferry_printf("%s.tmp-XXXXXX", dest);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "destination '%s'", tmp);
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
        if (size && ftruncate(fd, size) < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return ferry_error_errno(FERRY_ERR_IO, e, "destination '%s': size %llu", tmp,
                                     (unsigned long long)size);
        }
        sink = ferry_calloc(1, sizeof(*sink));
        sink->fd = fd;
        sink->tmp = FERRY_STEAL(tmp);
        sink->size = size;
        signal_tmp = sink->tmp;
    }
    sink->dest = ferry_strdup(dest);
    sink->writeback = true;
    /* Aligned data goes around the page cache: no second copy, no dirty
     * page throttling, and little left for the final fsync. */
    sink->dfd = -1;
    if (!getenv("FERRY_IMPORTER_NO_DIRECT"))
        sink->dfd = open(sink->tmp ? sink->tmp : dest, O_WRONLY | O_DIRECT | O_CLOEXEC);
    *ret = sink;
    return 0;
}

bool
ferry_sink_is_block(struct ferry_sink *sink)
{
    return sink->block;
}

uint64_t
ferry_sink_size(struct ferry_sink *sink)
{
    return sink->size;
}

int
ferry_sink_set_size(struct ferry_sink *sink, uint64_t size)
{
    if (sink->block)
        return 0;
    if (ftruncate(sink->fd, size) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "destination '%s': size %llu", sink->tmp,
                                 (unsigned long long)size);
    sink->size = size;
    return 0;
}

uint64_t
ferry_sink_data_bytes(struct ferry_sink *sink)
{
    return __atomic_load_n(&sink->data_bytes, __ATOMIC_RELAXED);
}

static bool
is_zero(const uint8_t *p, size_t len)
{
    if (len == 0)
        return true;
    if (p[0] != 0 || p[len - 1] != 0)
        return false;
    if (len >= 16) {
        for (size_t i = 0; i < 16; i++)
            if (p[i])
                return false;
        return memcmp(p, p + 16, len - 16) == 0;
    }
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

static int
write_all(struct ferry_sink *sink, const uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    int fd = sink->fd;

    if (sink->dfd >= 0 && ((uintptr_t)buf | off | len) % SINK_BLOCK == 0)
        fd = sink->dfd;
    while (done < len) {
        ssize_t n = pwrite(fd, buf + done, len - done, off + done);
        if (n < 0 && fd == sink->dfd && errno == EINVAL) {
            fd = sink->fd;   /* the file system refuses O_DIRECT after all */
            continue;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ferry_error_errno(FERRY_ERR_IO, errno, "writing '%s' at offset %llu",
                                     sink->dest, (unsigned long long)(off + done));
        }
        done += n;
    }
    __atomic_add_fetch(&sink->data_bytes, len, __ATOMIC_RELAXED);
    if (!sink->block && sink->writeback && fd != sink->dfd &&
        __atomic_add_fetch(&sink->unflushed, len, __ATOMIC_RELAXED) >= SINK_WRITEBACK) {
        __atomic_store_n(&sink->unflushed, 0, __ATOMIC_RELAXED);
        sync_file_range(sink->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    return 0;
}

static int
zero_device(struct ferry_sink *sink, uint64_t off, uint64_t len)
{
    static const uint8_t zeros[SINK_BLOCK];

    /* BLKZEROOUT wants 512-byte alignment: write the unaligned edges. */
    while (len && (off % 512 || len < 512)) {
        size_t n = 512 - off % 512;
        if (n > len)
            n = len;
        if (pwrite(sink->fd, zeros, n, off) != (ssize_t)n)
            return ferry_error_errno(FERRY_ERR_IO, errno, "zeroing '%s'", sink->dest);
        off += n;
        len -= n;
    }
    uint64_t aligned = len & ~UINT64_C(511);
    if (aligned) {
        uint64_t range[2] = { off, aligned };
        if (ioctl(sink->fd, BLKZEROOUT, range) < 0 &&
            fallocate(sink->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, aligned) < 0) {
            for (uint64_t o = 0; o < aligned; o += SINK_BLOCK) {
                size_t n = aligned - o < SINK_BLOCK ? aligned - o : SINK_BLOCK;
                if (pwrite(sink->fd, zeros, n, off + o) != (ssize_t)n)
                    return ferry_error_errno(FERRY_ERR_IO, errno, "zeroing '%s'", sink->dest);
            }
        }
        off += aligned;
        len -= aligned;
    }
    if (len && pwrite(sink->fd, zeros, len, off) != (ssize_t)len)
        return ferry_error_errno(FERRY_ERR_IO, errno, "zeroing '%s'", sink->dest);
    return 0;
}

int
ferry_sink_zero(struct ferry_sink *sink, uint64_t off, uint64_t len)
{
    if (!sink->block || len == 0)
        return 0;
    return zero_device(sink, off, len);
}

int
ferry_sink_write(struct ferry_sink *sink, uint64_t off, const void *data, size_t len)
{
    const uint8_t *buf = data;
    size_t i = 0;

    while (i < len) {
        /* Blocks are aligned on the disk, not on the buffer. */
        size_t first = SINK_BLOCK - (off + i) % SINK_BLOCK;
        size_t start = i;
        bool zero;
        if (first > len - i)
            first = len - i;
        zero = is_zero(buf + i, first);
        i += first;
        while (i < len) {
            size_t n = len - i < SINK_BLOCK ? len - i : SINK_BLOCK;
            if (is_zero(buf + i, n) != zero)
                break;
            i += n;
        }
        if (zero) {
            if (ferry_sink_zero(sink, off + start, i - start) < 0)
                return -1;
        } else if (write_all(sink, buf + start, i - start, off + start) < 0) {
            return -1;
        }
    }
    return 0;
}

int
ferry_sink_stream_write(struct ferry_sink *sink, uint64_t off, const void *buf, size_t len)
{
    if (sink->block && off > sink->cursor) {
        if (zero_device(sink, sink->cursor, off - sink->cursor) < 0)
            return -1;
    }
    if (sink->block && off + len > sink->cursor)
        sink->cursor = off + len;
    return ferry_sink_write(sink, off, buf, len);
}

int
ferry_sink_stream_finish(struct ferry_sink *sink)
{
    if (sink->block && sink->size > sink->cursor) {
        if (zero_device(sink, sink->cursor, sink->size - sink->cursor) < 0)
            return -1;
        sink->cursor = sink->size;
    }
    return 0;
}

/* How much ferry_sink_write counted as data in [OFF, END), read back: each
 * disk-aligned 4 KiB block it found non-zero, clipped to the range.  A
 * block that straddles OFF was counted whole; what stays counted of it is
 * the part before OFF, if that part holds data by itself (as a write that
 * stopped at OFF would have counted it). */
static int
counted_data(struct ferry_sink *sink, uint64_t off, uint64_t end, uint64_t *ret)
{
    FERRY_AUTOFREE uint8_t *buf = ferry_malloc(SINK_BLOCK);
    uint64_t n = 0;

    for (uint64_t b = off - off % SINK_BLOCK; b < end; b += SINK_BLOCK) {
        if (!sink->block) {
            /* Skip the holes of a file. */
            off_t d = lseek(sink->fd, (off_t)b, SEEK_DATA);
            if ((d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= end))
                break;
            if (d >= 0 && (uint64_t)d >= b + SINK_BLOCK) {
                b = (uint64_t)d - (uint64_t)d % SINK_BLOCK - SINK_BLOCK;
                continue;
            }
        }
        uint64_t top = b + SINK_BLOCK < end ? b + SINK_BLOCK : end;
        ssize_t r = pread(sink->fd, buf, top - b, (off_t)b);
        if (r < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "reading back '%s' at offset %llu",
                                     sink->dest, (unsigned long long)b);
        if (is_zero(buf, (size_t)r))
            continue;
        if (b < off && !is_zero(buf, off - b))
            n += top - off;
        else
            n += top - b;
    }
    *ret = n;
    return 0;
}

int
ferry_sink_discard(struct ferry_sink *sink, uint64_t off, uint64_t len)
{
    static const uint8_t zeros[SINK_BLOCK];
    uint64_t end, counted = 0, have;

    if (!ferry_add_ok(off, len, &end))
        return ferry_error(FERRY_ERR_INTERNAL, "discarding %llu+%llu overflows",
                           (unsigned long long)off, (unsigned long long)len);
    if (len == 0)
        return 0;
    if (counted_data(sink, off, end, &counted) < 0)
        return -1;
    if (sink->block) {
        if (zero_device(sink, off, len) < 0)
            return -1;
    } else if (fallocate(sink->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                         (off_t)len) < 0) {
        for (uint64_t o = off; o < end; o += SINK_BLOCK) {
            size_t n = end - o < SINK_BLOCK ? end - o : SINK_BLOCK;
            if (pwrite(sink->fd, zeros, n, (off_t)o) != (ssize_t)n)
                return ferry_error_errno(FERRY_ERR_IO, errno, "zeroing '%s'", sink->dest);
        }
    }
    have = __atomic_load_n(&sink->data_bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&sink->data_bytes, have > counted ? have - counted : 0, __ATOMIC_RELAXED);
    return 0;
}

int
ferry_sink_commit(struct ferry_sink *sink)
{
    if (fsync(sink->fd) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "flushing '%s'", sink->dest);
    if (!sink->block) {
        signal_tmp = NULL;
        if (rename(sink->tmp, sink->dest) < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "renaming '%s' to '%s'", sink->tmp,
                                     sink->dest);
        FERRY_AUTOFREE char *copy = ferry_strdup(sink->dest);
        FERRY_AUTOCLOSE int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
            fsync(dfd);
    }
    sink->committed = true;
    return 0;
}

void
ferry_sink_free(struct ferry_sink *sink)
{
    if (!sink)
        return;
    if (sink->fd >= 0)
        close(sink->fd);
    if (sink->dfd >= 0)
        close(sink->dfd);
    if (signal_tmp == sink->tmp)
        signal_tmp = NULL;
    if (sink->tmp && !sink->committed)
        unlink(sink->tmp);
    free(sink->tmp);
    free(sink->dest);
    free(sink);
}
