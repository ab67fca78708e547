/* clgm devices: the flat device list; --build compiles every program. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void help(void)
{
    printf("usage: clgm devices [--build] [--device SEL]\n\n"
           "Lists every OpenCL device of every platform with its flat index; '*' marks\n"
           "the default. With --build, compiles every kernel program for the selected\n"
           "device and reports the time per program and whether it came from the cache.\n\n"
           "options:\n"
           "  --build        build (or load from the cache) all kernel programs\n"
           "  -d, --device   device for --build: index, P:D, gpu|cpu|accel, or a name\n"
           "                 substring (default: $CLGM_DEVICE, else the best GPU, else the CPU)\n"
           "  -h, --help     this text\n\n"
           "examples:\n"
           "  clgm devices\n"
           "  clgm devices --build --device cpu\n"
           "  CLGM_CACHE_DIR=off clgm devices --build   # force a cold build\n");
}

static const char *type_str(clgm_device_type t)
{
    return t == CLGM_DEVICE_GPU ? "gpu" : t == CLGM_DEVICE_CPU ? "cpu"
         : t == CLGM_DEVICE_ACCEL ? "accel" : "other";
}

static int print_list(void)
{
    clgm_device_info *list;
    int n;
    char err[1024];
    clgm_status st = clgm_devices_list(&list, &n, err, sizeof err);
    if (st != CLGM_OK) {
        cli_error("devices", "%s", err);
        return 3;
    }
    int def = clgm_device_default(list, n);
    for (int i = 0; i < n; i++) {
        const clgm_device_info *d = &list[i];
        printf("%s[%d] %d:%d  %s\n", i == def ? "*" : " ", d->index, d->platform_index,
               d->device_index, d->name);
        printf("      platform   %s (%s)\n", d->platform_name, d->platform_version);
        printf("      vendor     %s, type %s, driver %s, %s\n", d->vendor,
               type_str(d->type), d->driver_version, d->opencl_c_version);
        printf("      compute    %u units at %u MHz, max work-group %zu\n",
               d->compute_units, d->clock_mhz, d->max_work_group_size);
        printf("      memory     global %.1f GiB, local %.0f KiB, max alloc %.1f GiB\n",
               d->global_mem_bytes / 1073741824.0, d->local_mem_bytes / 1024.0,
               d->max_alloc_bytes / 1073741824.0);
        printf("      float      fp16 %s, fp64 %s, fma %s\n", d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no", d->fma ? "yes" : "no");
    }
    printf("* default device; select with --device or CLGM_DEVICE\n");
    free(list);
    return 0;
}

static int build_all(const char *selector)
{
    clgm_ctx *ctx;
    int rc = cli_open("devices", selector, &ctx);
    if (rc) return rc;
    int total = clgm_program_count(), n = 0;
    clgm_build_report *rep = calloc((size_t)total, sizeof *rep);
    if (!rep) { clgm_ctx_destroy(ctx); return cli_error("devices", "out of host memory"); }
    clgm_status st = clgm_build_all(ctx, rep, &n);
    if (st != CLGM_OK) {
        rc = cli_fail("devices", ctx, st);
    } else {
        double sum = 0;
        int hits = 0;
        printf("programs for %s:\n", clgm_ctx_device(ctx)->name);
        for (int i = 0; i < n; i++) {
            printf("  %-16s %9.1f ms  %s\n", rep[i].program, rep[i].ms,
                   rep[i].from_cache ? "cache" : "built");
            sum += rep[i].ms;
            hits += rep[i].from_cache;
        }
        printf("total %.1f ms, %d of %d from the cache\n", sum, hits, n);
    }
    free(rep);
    clgm_ctx_destroy(ctx);
    return rc;
}

int cmd_devices(int argc, char **argv)
{
    static const struct option opts[] = {{"build", no_argument, 0, 'b'},
                                         {"device", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int build = 0, c;
    const char *selector = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "bd:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': build = 1; break;
        case 'd': selector = optarg; break;
        case 'h': help(); return 0;
        default: return cli_error("devices", "unknown option '%s' (see clgm devices --help)",
                                  argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_error("devices", "unexpected argument '%s' (see clgm devices --help)", argv[optind]);
    return build ? build_all(selector) : print_list();
}
