/* clgm train: the training loop with metrics, sample grids, checkpoints,
 * a report, Ctrl-C handling and exact resume. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "app/dataset.h"
#include "app/image_grid.h"
#include "app/metrics_log.h"
#include "app/report.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "models/gm.h"

#define GRID_N 64

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C stops at once */
}

static void help(void)
{
    printf("usage: clgm train MODEL [options]\n\n"
           "Trains a generative model and writes into the run folder: checkpoint.safetensors,\n"
           "samples/epoch_NNN.png (a fixed noise batch), metrics.csv and report.html.\n\n"
           "MODEL: a preset (mlp-gan, dcgan, dcgan64, lsgan, sngan, vae, conv-vae, vae-gan) or a\n"
           "       .json file in the preset format (see src/models/presets).\n\n"
           "options:\n"
           "  --data SPEC         fashion-mnist (default), fashion-mnist:test, an IDX file\n"
           "                      (.gz or plain) or a folder of PNG/JPEG images\n"
           "  --epochs N          epochs to train (default 5; with --resume: the total)\n"
           "  --batch N           batch size (default 64)\n"
           "  --lr F              learning rate of every optimizer (default: the preset's)\n"
           "  --latent N          latent size (default: the preset's)\n"
           "  --loss bce|ls|hinge GAN loss (default: the preset's)\n"
           "  --beta F            VAE KL weight (default 1)\n"
           "  --d-dropout P       dropout in the mlp-gan discriminator (default 0)\n"
           "  --recon feature|pixel  vae-gan reconstruction error: in discriminator\n"
           "                      features (default) or pixels\n"
           "  --gamma F           vae-gan decoder loss gamma * recon + GAN (default: preset's)\n"
           "  --pretrain-vae-epochs N  vae-gan: train as a plain VAE for N epochs first\n"
           "  --init NAME         default|dcgan|xavier|he (default: the preset's)\n"
           "  --channels N        image channels: 1 grey, 3 RGB (default: the preset's)\n"
           "  --seed N            seed for weights, noise and data order (default 0)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n"
           "  -o, --out DIR       run folder (default runs/MODEL)\n"
           "  --save-every N      checkpoint every N epochs (default 1)\n"
           "  --sample-every N    sample grid every N epochs (default 1)\n"
           "  --log-every N       metrics row every N steps (default 50)\n"
           "  --max-steps N       stop after N steps in total (for quick checks)\n"
           "  --resume CKPT       continue a run from its checkpoint (same device: exact)\n"
           "  -q, --quiet         no progress output\n\n"
           "Ctrl-C finishes the current step, writes the checkpoint and exits 130.\n\n"
           "examples:\n"
           "  clgm train dcgan --epochs 5\n"
           "  clgm train vae --latent 2 --epochs 10 --out runs/vae2d\n"
           "  clgm train vae-gan --pretrain-vae-epochs 1 --epochs 5\n"
           "  clgm train dcgan --resume runs/dcgan/checkpoint.safetensors --epochs 10\n");
}

typedef struct train_args {
    const char *model, *data, *out, *resume, *device;
    int epochs, batch, save_every, sample_every, log_every, quiet;
    int64_t max_steps;
    uint64_t seed;
    gm_overrides ov;
} train_args;

/* Float options: any finite number >= lo. */
static int parse_float(const char *s, const char *opt, double lo, float *v)
{
    double d;
    if (!cli_parse_double("train", s, opt, lo, HUGE_VAL, &d)) return 0;
    *v = (float)d;
    return 1;
}

static int parse_args(int argc, char **argv, train_args *a)
{
    enum { O_DATA = 256, O_EPOCHS, O_BATCH, O_LR, O_LATENT, O_LOSS, O_BETA, O_DROP, O_INIT, O_CHANNELS,
           O_SEED, O_SAVE, O_SAMPLE, O_LOG, O_MAX, O_RESUME, O_RECON, O_GAMMA, O_PRETRAIN };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA}, {"epochs", required_argument, 0, O_EPOCHS},
        {"batch", required_argument, 0, O_BATCH}, {"lr", required_argument, 0, O_LR},
        {"latent", required_argument, 0, O_LATENT}, {"loss", required_argument, 0, O_LOSS},
        {"beta", required_argument, 0, O_BETA}, {"d-dropout", required_argument, 0, O_DROP},
        {"init", required_argument, 0, O_INIT}, {"channels", required_argument, 0, O_CHANNELS}, {"seed", required_argument, 0, O_SEED},
        {"device", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
        {"save-every", required_argument, 0, O_SAVE}, {"sample-every", required_argument, 0, O_SAMPLE},
        {"log-every", required_argument, 0, O_LOG}, {"max-steps", required_argument, 0, O_MAX},
        {"resume", required_argument, 0, O_RESUME}, {"quiet", no_argument, 0, 'q'},
        {"recon", required_argument, 0, O_RECON}, {"gamma", required_argument, 0, O_GAMMA},
        {"pretrain-vae-epochs", required_argument, 0, O_PRETRAIN},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    *a = (train_args){.epochs = 5, .batch = 64, .save_every = 1,
                      .sample_every = 1, .log_every = 50,
                      .ov = {.beta = -1, .d_dropout = -1}};
    long v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: a->data = optarg; break;
        case O_EPOCHS: if (!cli_parse_long("train", optarg, "--epochs", 1, LONG_MAX, &v)) return 2; a->epochs = (int)v; break;
        case O_BATCH: if (!cli_parse_long("train", optarg, "--batch", 1, LONG_MAX, &v)) return 2; a->batch = (int)v; break;
        case O_LR: if (!parse_float(optarg, "--lr", 1e-30, &a->ov.lr)) return 2; break;
        case O_LATENT: if (!cli_parse_long("train", optarg, "--latent", 1, LONG_MAX, &v)) return 2; a->ov.latent = (int)v; break;
        case O_LOSS: a->ov.loss = optarg; break;
        case O_BETA: if (!parse_float(optarg, "--beta", 0, &a->ov.beta)) return 2; break;
        case O_DROP:
            if (!parse_float(optarg, "--d-dropout", 0, &a->ov.d_dropout)) return 2;
            if (a->ov.d_dropout >= 1) return cli_error("train", "--d-dropout must be below 1"), 2;
            break;
        case O_INIT: a->ov.init = optarg; break;
        case O_CHANNELS:
            if (!cli_parse_long("train", optarg, "--channels", 1, 4, &v)) return 2;
            a->ov.channels = (int)v;
            break;
        case O_RECON: a->ov.recon = optarg; break;
        case O_GAMMA: if (!parse_float(optarg, "--gamma", 1e-30, &a->ov.gamma)) return 2; break;
        case O_PRETRAIN:
            if (!cli_parse_long("train", optarg, "--pretrain-vae-epochs", 0, LONG_MAX, &v)) return 2;
            a->ov.pretrain_vae_epochs = (int)v;
            break;
        case O_SEED: if (!cli_parse_long("train", optarg, "--seed", 0, LONG_MAX, &v)) return 2; a->seed = (uint64_t)v; break;
        case 'd': a->device = optarg; break;
        case 'o': a->out = optarg; break;
        case O_SAVE: if (!cli_parse_long("train", optarg, "--save-every", 1, LONG_MAX, &v)) return 2; a->save_every = (int)v; break;
        case O_SAMPLE: if (!cli_parse_long("train", optarg, "--sample-every", 1, LONG_MAX, &v)) return 2; a->sample_every = (int)v; break;
        case O_LOG: if (!cli_parse_long("train", optarg, "--log-every", 1, LONG_MAX, &v)) return 2; a->log_every = (int)v; break;
        case O_MAX: if (!cli_parse_long("train", optarg, "--max-steps", 1, LONG_MAX, &v)) return 2; a->max_steps = v; break;
        case O_RESUME: a->resume = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'h': help(); exit(0);
        default:
            return cli_error("train", "unknown or incomplete option '%s' (see clgm train --help)",
                             argv[optind - 1]), 2;
        }
    }
    if (optind < argc) a->model = argv[optind++];
    if (optind < argc)
        return cli_error("train", "unexpected argument '%s' (see clgm train --help)", argv[optind]), 2;
    if (!a->model && !a->resume)
        return cli_error("train", "which model? e.g. clgm train dcgan (see clgm train --help)"), 2;
    return 0;
}

static int make_dir(const char *path)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(tmp, 0755) && errno != EEXIST) ? -1 : 0;
}

typedef struct run {
    train_args *a;
    clgm_ctx *ctx;
    gm_model *m;
    ds_dataset *ds;
    char dir[1024], ckpt[1100], metrics[1100], last_grid[64];

    mlog *log;
    progress *prog;
    float *grid, *batch;
    int *perm;
} run;

static int save_checkpoint(run *r)
{
    double v[GM_MAX_METRICS];
    /* Never overwrite the last good checkpoint with a diverged model. */
    clgm_status st = gm_read_metrics(r->m, v);
    if (st == CLGM_OK) st = gm_save(r->m, r->ckpt);
    return st == CLGM_OK ? 0 : cli_fail("train", r->ctx, st);
}

static int write_grid(run *r, int64_t epoch)
{
    gm_model *m = r->m;
    /* The same noise every time: seed ^ a constant, offset 0. */
    clgm_status st = gm_generate(m, NULL, GRID_N, m->seed ^ 0x5eed5eedULL, 0, r->grid);
    if (st != CLGM_OK) return cli_fail("train", r->ctx, st);
    char path[1300], err[512];
    snprintf(r->last_grid, sizeof r->last_grid, "samples/epoch_%03" PRId64 ".png", epoch);
    snprintf(path, sizeof path, "%s/%s", r->dir, r->last_grid);
    if (grid_write_png(path, r->grid, GRID_N, m->img_c, m->img_h, m->img_w, 0, 1, 8, 2, err,
                       sizeof err) != CLGM_OK)
        return cli_error("train", "%s", err);
    return 0;
}

static int write_report(run *r)
{
    char epochs[32], batch[32], seed[32], step[32], lat[32], err[512];
    snprintf(epochs, sizeof epochs, "%" PRId64 " of %d", r->m->epoch, r->a->epochs);
    snprintf(batch, sizeof batch, "%d", r->m->batch);
    snprintf(seed, sizeof seed, "%" PRIu64, r->m->seed);
    snprintf(step, sizeof step, "%" PRId64, r->m->step);
    snprintf(lat, sizeof lat, "%d", r->m->latent);
    report_kv kv[] = {{"model", r->m->name}, {"data", ds_source(r->ds)},
                      {"device", clgm_ctx_device(r->ctx)->name}, {"epochs", epochs},
                      {"steps", step}, {"batch", batch}, {"latent", lat}, {"seed", seed},
                      {"checkpoint", "checkpoint.safetensors"}};
    char title[128];
    snprintf(title, sizeof title, "clgm train %s", r->m->name);
    if (report_write_html(r->dir, title, kv, (int)(sizeof kv / sizeof *kv), r->metrics,
                          r->last_grid[0] ? r->last_grid : NULL, err, sizeof err) != CLGM_OK)
        return cli_error("train", "%s", err);
    return 0;
}

/* Runs the epochs; returns the exit code. */
static int train_loop(run *r)
{
    gm_model *m = r->m;
    int n = ds_count(r->ds), B = m->batch;
    int64_t spe = n / B;
    if (spe < 1)
        return cli_error("train", "%s has %d images, fewer than one batch of %d (use --batch)",
                         ds_source(r->ds), n, B);
    int64_t total = spe * r->a->epochs;
    if (r->a->max_steps && r->a->max_steps < total) total = r->a->max_steps;
    r->prog = progress_create(NULL, r->a->quiet ? PROGRESS_QUIET : PROGRESS_AUTO, r->a->epochs,
                              total, m->step, B, 10);
    double vals[GM_MAX_METRICS + 1];
    double t_last = 0;
    int64_t step_last = m->step;
    struct timespec ts;
    while (m->step < total) {
        int64_t epoch = m->step / spe, i = m->step % spe;
        if (i == 0) ds_shuffle(n, m->seed, (uint64_t)epoch, r->perm);
        clgm_status st = ds_batch(r->ds, r->perm + i * B, B, r->batch, NULL);
        if (st == CLGM_OK) st = gm_train_step(m, r->batch, B);
        if (st != CLGM_OK) return cli_fail("train", r->ctx, st);
        if (m->step % r->a->log_every == 0 || m->step == total) {
            st = gm_read_metrics(m, vals);
            if (st != CLGM_OK) {
                progress_finish(r->prog, "stopped");
                FILE *f = fopen(r->ckpt, "rb");
                if (f) fclose(f);
                return cli_error("train", "%s; %s%s", clgm_last_error(r->ctx),
                                 f ? "the last good checkpoint is " : "no checkpoint was written yet",
                                 f ? r->ckpt : "");
            }
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double now = ts.tv_sec + ts.tv_nsec * 1e-9;
            vals[m->n_metrics] = t_last > 0 ? (double)(m->step - step_last) * B / (now - t_last) : NAN;
            t_last = now;
            step_last = m->step;
            char err[512];
            if (mlog_row(r->log, m->step, epoch + 1, vals, err, sizeof err) != CLGM_OK)
                return cli_error("train", "%s", err);
            progress_update(r->prog, (int)epoch + 1, m->step, m->metric_names, vals, m->n_metrics);
        }
        if (m->step % spe == 0) {
            m->epoch = m->step / spe;
            int rc = 0;
            if (m->epoch % r->a->sample_every == 0) rc = write_grid(r, m->epoch);
            if (!rc && (m->epoch % r->a->save_every == 0 || m->step == total)) rc = save_checkpoint(r);
            if (!rc) rc = write_report(r);
            if (rc) return rc;
        }
        if (interrupted) {
            progress_finish(r->prog, "interrupted");
            int rc = save_checkpoint(r);
            if (!rc) rc = write_report(r);
            if (!rc)
                fprintf(stderr, "clgm train: interrupted at step %" PRId64 "; checkpoint %s "
                        "(continue with --resume %s)\n", m->step, r->ckpt, r->ckpt);
            return rc ? rc : 130;
        }
    }
    progress_finish(r->prog, NULL);
    if (m->step % spe) { /* stopped mid-epoch by --max-steps */
        int rc = write_grid(r, m->step / spe + 1);
        if (!rc) rc = save_checkpoint(r);
        if (!rc) rc = write_report(r);
        if (rc) return rc;
    }
    if (!r->a->quiet)
        fprintf(stderr, "clgm train: done; samples in %s/samples, report %s/report.html, checkpoint %s\n",
                r->dir, r->dir, r->ckpt);
    return 0;
}

static int setup_and_train(run *r)
{
    train_args *a = r->a;
    char err[1024];
    clgm_status st;
    if (a->resume) {
        st = gm_load(r->ctx, a->resume, 0, &r->m);
        if (st != CLGM_OK) return cli_fail("train", r->ctx, st);
        if (!a->out) {
            snprintf(r->dir, sizeof r->dir, "%s", a->resume);
            char *slash = strrchr(r->dir, '/');
            if (slash) *slash = 0; else snprintf(r->dir, sizeof r->dir, ".");
        }
    } else {
        char *cfg = gm_load_config(a->model, err, sizeof err);
        if (!cfg) return cli_error("train", "%s", err);
        st = gm_create(r->ctx, cfg, &a->ov, a->batch, a->seed, &r->m);
        free(cfg);
        if (st != CLGM_OK) return cli_fail("train", r->ctx, st);
    }
    if (a->out) snprintf(r->dir, sizeof r->dir, "%s", a->out);
    else if (!a->resume) snprintf(r->dir, sizeof r->dir, "runs/%s", r->m->name);
    gm_model *m = r->m;
    /* A resumed run trains on the data it started with unless told otherwise. */
    if (!a->data) a->data = m->data[0] ? m->data : "fashion-mnist";
    if (a->data != m->data) snprintf(m->data, sizeof m->data, "%s", a->data);
    if (ds_open(a->data, m->img_c, m->img_h, m->img_w, &r->ds, err, sizeof err) != CLGM_OK)
        return cli_error("train", "%s", err);
    char samples[1100];
    snprintf(samples, sizeof samples, "%s/samples", r->dir);
    if (make_dir(samples))
        return cli_error("train", "cannot create the run folder %s: %s", samples, strerror(errno));
    snprintf(r->ckpt, sizeof r->ckpt, "%s/checkpoint.safetensors", r->dir);
    snprintf(r->metrics, sizeof r->metrics, "%s/metrics.csv", r->dir);
    const char *cols[GM_MAX_METRICS + 1];
    for (int i = 0; i < m->n_metrics; i++) cols[i] = m->metric_names[i];
    cols[m->n_metrics] = "images_per_s";
    if (mlog_open(r->metrics, cols, m->n_metrics + 1, a->resume ? m->step : -1, &r->log, err,
                  sizeof err) != CLGM_OK)
        return cli_error("train", "%s", err);
    size_t img = (size_t)m->img_c * m->img_h * m->img_w;
    int n = ds_count(r->ds);
    r->grid = malloc(GRID_N * img * sizeof(float));
    r->batch = malloc((size_t)m->batch * img * sizeof(float));
    r->perm = calloc((size_t)n + 2, sizeof(int));
    if (!r->grid || !r->batch || !r->perm) return cli_error("train", "out of host memory");
    /* A resumed mid-epoch run needs its epoch's order first. */
    ds_shuffle(n, m->seed, (uint64_t)(m->step / (n / m->batch > 0 ? n / m->batch : 1)), r->perm);
    if (!a->quiet)
        fprintf(stderr, "clgm train: %s on %s, %d images from %s, batch %d, %s\n", m->name,
                clgm_ctx_device(r->ctx)->name, n, ds_source(r->ds), m->batch,
                a->resume ? "resumed" : "new run");
    signal(SIGINT, on_sigint);
    return train_loop(r);
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    run r;
    memset(&r, 0, sizeof r);
    r.a = &a;
    rc = cli_open("train", a.device, &r.ctx);
    if (rc) return rc;
    rc = setup_and_train(&r);
    progress_destroy(r.prog);
    mlog_close(r.log);
    ds_close(r.ds);
    gm_destroy(r.m);
    free(r.grid);
    free(r.batch);
    free(r.perm);
    clgm_ctx_destroy(r.ctx);
    return rc;
}
