/* clgm tune: measures GEMM variants on the products the models use, then
 * the work-group sizes of the other kernels on whole training steps, and
 * stores the fastest correct choices as this device's profile next to the
 * program cache; the ops pick it up automatically. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/tune_kernels.h"
#include "device/fail.h"
#include "models/gm.h"
#include "ops/gemm_tune.h"

enum { MAX_SHAPES = 256 };

typedef struct shape_set {
    gemm_shape s[MAX_SHAPES];
    int count[MAX_SHAPES];
    int n;
} shape_set;

static void help(void)
{
    printf("usage: clgm tune [--device SEL] [--presets a,b,...] [--batch N] [--only gemm|kernels]\n"
           "                 [--tiny] [--dry-run]\n\n"
           "1. GEMM: times the variants (tile sets of clgm's own kernels, and CLBlast) on the\n"
           "   matrix products one training step of each preset issues, weighted by how often\n"
           "   the step issues them. Every candidate's result is checked against the naive\n"
           "   reference kernel before it may win.\n"
           "2. Kernels: times whole training steps of the presets with other work-group sizes\n"
           "   for the elementwise kernels (ew) and the reductions (rw: losses, BatchNorm\n"
           "   statistics, bias gradients). Every candidate must reproduce the metrics of three\n"
           "   steps of the current choice to 1e-3 before it may win.\n"
           "The winners are stored per device (platform, device name, driver version) in the\n"
           "program cache directory ($CLGM_CACHE_DIR, default ~/.cache/clgm) and used by every\n"
           "later run on that device. A challenger must beat the current choice by 3%%.\n\n"
           "options:\n"
           "  -d, --device SEL   device (default: $CLGM_DEVICE, else the best GPU, else the CPU)\n"
           "  --presets LIST     presets whose shapes are tuned (default dcgan,mlp-gan,vae)\n"
           "  --batch N          batch size of those steps (default 64)\n"
           "  --only WHAT        gemm or kernels: tune one part, keep the other's stored choice\n"
           "  --tiny             a few small GEMM shapes and one kernel candidate on vae at\n"
           "                     batch 16 (a quick check of the machinery)\n"
           "  --dry-run          measure and report, store nothing\n"
           "  -h, --help         this text\n\n"
           "Delete the profile file (its path is printed) to go back to the built-in choice.\n\n"
           "examples:\n"
           "  clgm tune                          # both stages (2-3 minutes on a 2-core CPU)\n"
           "  clgm tune --only kernels --dry-run # see what the second stage would pick\n"
           "  clgm tune -d gpu --presets dcgan64 --batch 128\n");
}

static void observe(void *user, const gemm_shape *s)
{
    shape_set *set = user;
    for (int i = 0; i < set->n; i++)
        if (!memcmp(&set->s[i], s, sizeof *s)) {
            set->count[i]++;
            return;
        }
    if (set->n == MAX_SHAPES) return;
    set->s[set->n] = *s;
    set->count[set->n++] = 1;
}

/* One training step of the preset with the observer on. */
static clgm_status collect(clgm_ctx *ctx, const char *preset, int batch, shape_set *set)
{
    char err[512];
    char *cfg = gm_load_config(preset, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "clgm tune: %s\n", err);
        return CLGM_ERR_INVALID_ARG;
    }
    gm_model *m = NULL;
    clgm_status st = gm_create(ctx, cfg, NULL, batch, 1, &m);
    free(cfg);
    if (st != CLGM_OK) return st;
    size_t n = (size_t)batch * m->img_c * m->img_h * m->img_w;
    float *x = malloc(n * sizeof *x);
    if (!x) st = CLGM_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; x && i < n; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    gemm_set_observer(observe, set);
    if (st == CLGM_OK) st = gm_train_step(m, x, batch);
    gemm_set_observer(NULL, NULL);
    if (st == CLGM_OK) st = clgm_finish(ctx);
    free(x);
    gm_destroy(m);
    return st;
}

/* The GEMM stage: *best_params receives the winner; *found is 0 (after a
 * message) when no candidate was correct. */
static clgm_status tune_gemm(clgm_ctx *ctx, char *presets, int batch, int tiny, shape_set *set,
                             gemm_params *best_params, int *found)
{
    *found = 0;
    clgm_status st = CLGM_OK;
    if (tiny) {
        /* Odd sizes just above one tile, every transpose case. */
        const gemm_shape t[] = {{0, 0, 40, 48, 24, 1, 0}, {1, 0, 48, 40, 20, 1, 0},
                                {0, 1, 36, 64, 24, 1, 0}, {1, 1, 40, 36, 16, 1, 0},
                                {0, 0, 37, 50, 30, 2, 0}};
        for (size_t i = 0; i < sizeof t / sizeof *t; i++) set->s[i] = t[i], set->count[i] = 1;
        set->n = (int)(sizeof t / sizeof *t);
    } else {
        char list[512], *save = NULL;
        snprintf(list, sizeof list, "%s", presets);
        for (char *p = strtok_r(list, ",", &save); p && st == CLGM_OK; p = strtok_r(NULL, ",", &save))
            st = collect(ctx, p, batch, set);
    }
    if (st != CLGM_OK) return st;
    const clgm_device_info *dev = clgm_ctx_device(ctx);
    printf("tuning GEMM on %s (%s, driver %s): %d products\n", dev->name,
           dev->platform_version, dev->driver_version, set->n);
    int n = 0, best = -1;
    const gemm_params *sets;
    int n_sets = gemm_tune_default_sets(&sets);
    gemm_tune_candidate *cands = calloc((size_t)n_sets + 2, sizeof *cands);
    if (!cands) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    st = gemm_tune_run(ctx, set->s, set->count, set->n, sets, n_sets, 1, cands, &n, &best, stdout);
    if (st == CLGM_OK && best < 0) {
        cli_error("tune", "no GEMM candidate gave correct results; nothing stored");
    } else if (st == CLGM_OK) {
        *found = 1;
        printf("best: %s (%.3f ms per step", cands[best].name, cands[best].ms);
        if (cands[0].ms > 0) printf(", %.2fx the current choice", cands[0].ms / cands[best].ms);
        printf(")\n");
        *best_params = cands[best].params;
    }
    free(cands);
    return st;
}

int cmd_tune(int argc, char **argv)
{
    const char *device = NULL;
    char presets[512] = "dcgan,mlp-gan,vae";
    int batch = 64, tiny = 0, dry = 0, do_gemm = 1, do_kernels = 1;
    enum { O_PRESETS = 256, O_BATCH, O_TINY, O_DRY, O_ONLY };
    static const struct option longopts[] = {
        {"device", required_argument, 0, 'd'}, {"presets", required_argument, 0, O_PRESETS},
        {"batch", required_argument, 0, O_BATCH}, {"tiny", no_argument, 0, O_TINY},
        {"dry-run", no_argument, 0, O_DRY}, {"only", required_argument, 0, O_ONLY},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case O_PRESETS: snprintf(presets, sizeof presets, "%s", optarg); break;
        case O_BATCH:
            batch = atoi(optarg);
            if (batch < 1) return cli_error("tune", "--batch must be >= 1, not '%s'", optarg) + 1;
            break;
        case O_TINY: tiny = 1; break;
        case O_DRY: dry = 1; break;
        case O_ONLY:
            if (!strcmp(optarg, "gemm")) do_kernels = 0;
            else if (!strcmp(optarg, "kernels")) do_gemm = 0;
            else return cli_error("tune", "--only takes gemm or kernels, not '%s'", optarg) + 1;
            break;
        case 'h': help(); return 0;
        default: return 2;
        }
    }
    if (optind < argc) return cli_error("tune", "unexpected argument '%s'", argv[optind]) + 1;

    clgm_ctx *ctx;
    int rc = cli_open("tune", device, &ctx);
    if (rc) return rc;
    shape_set *set = calloc(1, sizeof *set);
    if (!set) { clgm_ctx_destroy(ctx); return cli_error("tune", "out of memory"); }
    gemm_params gemm_best;
    clgm_status st = gemm_params_get(ctx, &gemm_best);
    int found = 1;
    if (st == CLGM_OK && do_gemm)
        st = tune_gemm(ctx, presets, batch, tiny, set, &gemm_best, &found);
    if (!found) rc = 1; /* reported */

    char kernels[64] = "";
    if (!gemm_profile_kernels(ctx, kernels, sizeof kernels)) kernels[0] = 0;
    if (st == CLGM_OK && found && do_kernels) {
        tune_kernels_result kr;
        st = tune_kernels(ctx, tiny ? "vae" : presets, tiny ? 16 : batch, tiny, stdout, &kr);
        if (st == CLGM_OK) {
            ops_kparams_format(&kr.best, kernels, sizeof kernels);
            printf("best: %s (%.3f ms per step of the presets", kernels, kr.best_ms);
            if (kr.best_ms > 0) printf(", %.2fx the current choice", kr.current_ms / kr.best_ms);
            printf("; %d tried, %d rejected)\n", kr.tried, kr.rejected);
        }
    }
    if (st == CLGM_OK && found) {
        char path[1200];
        if (dry) printf("--dry-run: nothing stored\n");
        else if ((st = gemm_profile_write(ctx, &gemm_best, kernels, path, sizeof path)) == CLGM_OK)
            printf("stored %s\n", path);
    }
    if (st != CLGM_OK && !rc) rc = cli_fail("tune", ctx, st);
    free(set);
    clgm_ctx_destroy(ctx);
    return rc;
}
