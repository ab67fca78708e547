/* The on-disk program cache: miss, hit, corrupt entry, off, key inputs. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/device.h"
#include "test_util.h"

static int count_entries(const char *dir, char *first, size_t len)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, "basic-") == e->d_name && strstr(e->d_name, ".bin")) {
            if (!n && first) snprintf(first, len, "%s/%s", dir, e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

static clgm_build_report get_basic(const char *extra)
{
    clgm_ctx *ctx = tu_open();
    cl_program p;
    clgm_build_report r;
    memset(&r, 0, sizeof r);
    TU_OK(ctx, clgm_program_get(ctx, "basic", extra, &p, &r));
    /* The program must work whichever way it was obtained. */
    cl_kernel k;
    TU_OK(ctx, clgm_kernel_get(ctx, "basic", extra, "fill", &k));
    clgm_ctx_destroy(ctx);
    return r;
}

int main(void)
{
    char dir[] = "/tmp/clgm-test-cache-XXXXXX";
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char sub[300];
    snprintf(sub, sizeof sub, "%s/nested/dir", dir); /* created on demand */
    setenv("CLGM_CACHE_DIR", sub, 1);

    clgm_build_report r = get_basic(NULL);
    TU_CHECK(!r.from_cache, "first build is a miss");
    char entry[600] = "";
    TU_CHECK(count_entries(sub, entry, sizeof entry) == 1, "one entry written in %s", sub);

    r = get_basic(NULL);
    TU_CHECK(r.from_cache, "second context loads from the cache");

    r = get_basic("-DCLGM_TEST_OPTION=1");
    TU_CHECK(!r.from_cache, "other options are another key");
    TU_CHECK(count_entries(sub, NULL, 0) == 2, "second entry for the new options");

    /* Corrupt the first entry: flip bytes in the payload. */
    FILE *f = fopen(entry, "r+b");
    TU_CHECK(f != NULL, "open entry");
    if (f) {
        fseek(f, 40, SEEK_SET);
        fputs("garbage garbage garbage", f);
        fclose(f);
    }
    r = get_basic(NULL);
    TU_CHECK(!r.from_cache, "corrupt entry is rebuilt, not fatal");
    r = get_basic(NULL);
    TU_CHECK(r.from_cache, "rebuilt entry is valid again");

    /* Truncated entry. */
    TU_CHECK(truncate(entry, 20) == 0, "truncate");
    r = get_basic(NULL);
    TU_CHECK(!r.from_cache, "truncated entry is rebuilt");

    /* Cache off. */
    setenv("CLGM_CACHE_DIR", "off", 1);
    char offdir[600];
    clgm_cache_dir_default(offdir, sizeof offdir);
    TU_CHECK(offdir[0] == 0, "CLGM_CACHE_DIR=off disables the cache");
    r = get_basic(NULL);
    TU_CHECK(!r.from_cache, "no cache when off");

    /* XDG default. */
    unsetenv("CLGM_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
    clgm_cache_dir_default(offdir, sizeof offdir);
    TU_CHECK(!strcmp(offdir, "/tmp/xdg-test/clgm"), "XDG default: %s", offdir);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TU_CHECK(system(cmd) == 0, "cleanup");
    return tu_finish("test_program_cache");
}
