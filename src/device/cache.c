/* On-disk cache of program binaries. An entry is written atomically (temp
 * file + rename) and checked on load (magic, length, checksum); anything
 * wrong is treated as a miss so the caller rebuilds from source. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"

static const char MAGIC[8] = {'C', 'L', 'G', 'M', 'B', 'I', 'N', '1'};

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Two differently seeded 64-bit FNV-1a hashes give a 128-bit key; fields are
 * separated by their lengths so "ab"+"c" and "a"+"bc" differ. */
static void hash_field(uint64_t h[2], const void *data, size_t len)
{
    uint64_t n = len;
    for (int i = 0; i < 2; i++) {
        h[i] = fnv1a(h[i], &n, sizeof n);
        h[i] = fnv1a(h[i], data, len);
    }
}

void clgm_cache_key(const clgm_ctx *ctx, const char *source, size_t len,
                    const char *options, char *hex)
{
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    const char *fields[] = {options, ctx->info.platform_name,
                            ctx->info.platform_version, ctx->info.name,
                            ctx->info.driver_version, CLGM_VERSION};
    hash_field(h, source, len);
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        hash_field(h, fields[i], strlen(fields[i]));
    snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h[0],
             (unsigned long long)h[1]);
}

void clgm_cache_dir_default(char *dir, size_t len)
{
    const char *env = getenv("CLGM_CACHE_DIR");
    dir[0] = 0;
    if (env && *env) {
        if (!strcasecmp(env, "off") || !strcmp(env, "0")) return;
        snprintf(dir, len, "%s", env);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg) snprintf(dir, len, "%s/clgm", xdg);
    else if (home && *home) snprintf(dir, len, "%s/.cache/clgm", home);
}

static void entry_path(char *out, size_t len, const char *dir,
                       const char *program, const char *key)
{
    snprintf(out, len, "%s/%s-%s.bin", dir, program, key);
}

int clgm_cache_load(const char *dir, const char *program, const char *key,
                    unsigned char **bin, size_t *len)
{
    *bin = NULL;
    *len = 0;
    if (!dir || !*dir) return 0;
    char path[1400];
    entry_path(path, sizeof path, dir, program, key);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8];
    uint64_t n = 0, sum = 0;
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, MAGIC, 8) &&
             fread(&n, sizeof n, 1, f) == 1 && fread(&sum, sizeof sum, 1, f) == 1 &&
             n > 0 && n < (1ULL << 31);
    unsigned char *data = ok ? malloc((size_t)n) : NULL;
    ok = ok && data && fread(data, 1, (size_t)n, f) == n && fgetc(f) == EOF &&
         fnv1a(0xcbf29ce484222325ULL, data, (size_t)n) == sum;
    fclose(f);
    if (!ok) {
        free(data);
        return 0;
    }
    *bin = data;
    *len = (size_t)n;
    return 1;
}

static int mkdir_p(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(tmp, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

void clgm_cache_store(const char *dir, const char *program, const char *key,
                      const unsigned char *bin, size_t len)
{
    if (!dir || !*dir || !bin || !len || mkdir_p(dir) != 0) return;
    char path[1400], tmp[1500];
    entry_path(path, sizeof path, dir, program, key);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    uint64_t n = len, sum = fnv1a(0xcbf29ce484222325ULL, bin, len);
    int ok = fwrite(MAGIC, 1, 8, f) == 8 && fwrite(&n, sizeof n, 1, f) == 1 &&
             fwrite(&sum, sizeof sum, 1, f) == 1 && fwrite(bin, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
}
