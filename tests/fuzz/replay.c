/* main() for fuzz targets in builds without libFuzzer: feed every file named
 * on the command line (directories: every regular file in them, not
 * recursively) to LLVMFuzzerTestOneInput once.  Lets the ordinary and the
 * sanitizer test runs push the seed corpora through each target.  An empty or
 * missing corpus is a skip (exit 77). */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f) {
        perror(path);
        return -1;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    int runs = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (argv[i][0] == '-')
            continue; /* libFuzzer options: ignored here */
        if (stat(argv[i], &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;

            while (d && (e = readdir(d))) {
                char path[4096];
                struct stat fst;

                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                if (stat(path, &fst) == 0 && S_ISREG(fst.st_mode) && run_file(path) == 0)
                    runs++;
            }
            if (d)
                closedir(d);
        } else if (run_file(argv[i]) == 0) {
            runs++;
        }
    }
    if (runs == 0) {
        fprintf(stderr, "%s: no corpus files found: skipping\n", argv[0]);
        return 77;
    }
    printf("%s: %d inputs replayed\n", argv[0], runs);
    return 0;
}
